namespace Gateway.Tests.Support;

/// <summary>
/// The federation network runs six gateway processes; on a two-core machine it runs alone, after the parallel
/// tests, so the crash and load tests that count acknowledged messages are not measured against its start-up.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FederationNetworkCollection
{
    public const string Name = "federation network";
}
