using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Support;

/// <summary>Keeps every log line (category, level, text, exception) in memory so a test can search what was logged.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    public sealed record Line(string Category, LogLevel Level, string Text);

    public ConcurrentQueue<Line> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    /// <summary>Adds this provider with every level switched on for it (other providers keep their own levels).</summary>
    public void AddTo(ILoggingBuilder builder)
    {
        builder.AddProvider(this);
        builder.AddFilter<CapturingLoggerProvider>(null, LogLevel.Trace);
    }

    sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue(new Line(category, logLevel, formatter(state, exception) + (exception is null ? "" : "\n" + exception)));
    }
}
