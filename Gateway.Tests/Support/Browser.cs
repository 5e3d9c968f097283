using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Gateway.Tests.Support;

/// <summary>
/// Debian's chromium, headless, driven by its chromedriver through Selenium: every web page is tested in a real
/// browser. The gateway's self-signed certificate is accepted; screenshots go to <c>TestResults/screenshots/</c> as
/// artifacts of the run.
/// </summary>
public sealed class Browser : IDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string DriverPath = "/usr/bin/chromedriver";

    public IWebDriver Driver { get; }

    Browser(IWebDriver driver) => Driver = driver;

    /// <param name="loopbackHosts">Host names the browser resolves to 127.0.0.1 (links in mail name the gateway's public host).</param>
    /// <param name="downloads">Where downloads are saved without asking.</param>
    public static Browser Start(IEnumerable<string>? loopbackHosts = null, string? downloads = null)
    {
        ExternalTool.Require(ChromiumPath);
        ExternalTool.Require(DriverPath);
        var options = new ChromeOptions { BinaryLocation = ChromiumPath, AcceptInsecureCertificates = true };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=412,915",
            "--user-data-dir=" + TempDirectory.Create("chromium-profile"));
        if (loopbackHosts is not null)
            options.AddArgument("--host-resolver-rules=" + string.Join(",", loopbackHosts.Select(h => "MAP " + h + " 127.0.0.1")));
        if (downloads is not null)
        {
            options.AddUserProfilePreference("download.default_directory", downloads);
            options.AddUserProfilePreference("download.prompt_for_download", false);
            options.AddUserProfilePreference("safebrowsing.enabled", false);
        }
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(DriverPath)!, Path.GetFileName(DriverPath));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(30);
        return new Browser(driver);
    }

    /// <summary>Clicks an element that leads to another page (a form's button, a link) and waits until that page has
    /// loaded: a click may return before the browser has left the old page.</summary>
    public void ClickThrough(By element, int timeoutSeconds = 30)
    {
        var js = (IJavaScriptExecutor)Driver;
        js.ExecuteScript("window.__leaving = true;");
        Driver.FindElement(element).Click();
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            try
            {
                if (js.ExecuteScript("return window.__leaving === undefined && document.readyState === 'complete';") is true) return;
            }
            catch (WebDriverException) { } // between two documents
            if (DateTime.UtcNow > deadline) throw new WebDriverTimeoutException($"no new page within {timeoutSeconds} s after clicking {element}");
            Thread.Sleep(50);
        }
    }

    /// <summary>Saves a screenshot of the page as it is now, named for the test and step.</summary>
    public string Screenshot(string name)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name + ".png");
        ((ITakesScreenshot)Driver).GetScreenshot().SaveAsFile(path);
        return path;
    }

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
    }
}
