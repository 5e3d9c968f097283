using Gateway.Tests.Support;
using OpenQA.Selenium;

namespace Gateway.Tests.Web;

/// <summary>The sender's status page in a real browser (headless chromium): logged in, it lists a sent message with its
/// recipient, and its revoke button works without JavaScript, after which the recipient can no longer open it.</summary>
public sealed class StatusPageBrowserTests
{
    const string Alice = "alice@gateway.test";
    const string Bob = "bob@gateway.test";
    const string Password = "status-browser-16";

    [Fact]
    public async Task The_sender_sees_the_recipient_and_revokes_the_message_in_a_browser()
    {
        await using var gw = await TestGateway.StartAsync();
        gw.AddUser(Alice, Password);
        gw.AddUser(Bob, Password);
        var marker = "BROWSER" + Guid.NewGuid().ToString("N")[..10];
        Assert.Equal(250, (await gw.SubmitAsync(Alice, Password, Alice, new[] { Bob },
            $"From: {Alice}\r\nTo: {Bob}\r\nSubject: {marker}\r\nMessage-ID: <{marker}@gateway.test>\r\n\r\nBody {marker}\r\n")).Code);
        Assert.Contains(await gw.WaitForMailAsync(Bob), m => m.Contains("Body " + marker));

        using var browser = Browser.Start();
        var driver = browser.Driver;
        // HTTP Basic credentials in the URL of a top-level navigation, as a user types them into the dialog.
        driver.Navigate().GoToUrl($"https://{Uri.EscapeDataString(Alice)}:{Password}@127.0.0.1:{gw.HttpsPort}/status");
        browser.Screenshot("status-page-listed");
        Assert.Equal($"Sent messages of {Alice}", driver.Title);
        var section = driver.FindElements(By.TagName("section")).Single(s => s.Text.Contains(marker));
        Assert.Contains(Bob, section.FindElement(By.TagName("table")).Text);

        section.FindElement(By.CssSelector("form button[type=submit]")).Click();
        new OpenQA.Selenium.Support.UI.WebDriverWait(driver, TimeSpan.FromSeconds(30)).Until(d => d.FindElements(By.CssSelector("[role=status]")).Count > 0);
        browser.Screenshot("status-page-revoked");
        Assert.Contains("is revoked", driver.FindElement(By.CssSelector("[role=status]")).Text);
        Assert.Contains("Revoked", driver.FindElements(By.TagName("section")).Single(s => s.Text.Contains(marker)).Text);
        Assert.Empty(driver.FindElements(By.TagName("section")).Single(s => s.Text.Contains(marker)).FindElements(By.TagName("form")));

        // Revoked: bob's INBOX shows only the notice in its place.
        Assert.Null(gw.ReadableMail(Bob)!.FirstOrDefault(m => m.Contains("Body " + marker)));
    }
}
