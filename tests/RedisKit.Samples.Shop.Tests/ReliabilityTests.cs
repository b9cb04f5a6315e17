using RedisKit.Reliability;

namespace RedisKit.Samples.Shop.Tests;

/// <summary>
/// The fault runs of docs/reliability.md, shorter (<see cref="RunOptions.Short"/>): the real sample as its own
/// OS process under wrk load, with redis-server stopped, a cluster primary killed, or the sample SIGKILLed.
/// Each scenario checks its own expectations (statuses by phase, recovery, nothing lost) and returns every
/// one it saw broken; the figures are printed on failure. <c>./build.sh reliability</c> runs the long versions
/// and writes docs/reliability-runs.md.
/// </summary>
[Collection(nameof(ReliabilityTests))]
[CollectionDefinition(nameof(ReliabilityTests), DisableParallelization = true)]
public sealed class ReliabilityTests
{
    [Fact]
    public async Task RedisStoppedFiveSecondsUnderLoad_CachedReadsServe_Sessions503_RecoversWithin2s_NothingLost()
    {
        var result = await Scenarios.RedisOutageAsync(RunOptions.Short);
        Assert.True(result.Violations.Count == 0, result.Markdown);
    }

    [Fact]
    public async Task ClusterPrimaryKilledUnderLoad_ReplicaTakesOver_No500_NothingLost()
    {
        var result = await Scenarios.ClusterFailoverAsync(RunOptions.Short);
        Assert.True(result.Violations.Count == 0, result.Markdown);
    }

    [Fact]
    public async Task SampleKilledMidStream_PendingPaymentsReclaimed_EachChargedOnce_NoneLost()
    {
        var result = await Scenarios.SampleKillAsync(RunOptions.Short);
        Assert.True(result.Violations.Count == 0, result.Markdown);
    }
}
