using System.Reflection;
using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: Xunit.TestFramework("RedisKit.Tests.AfterSuiteFramework", "RedisKit.Tests")]

namespace RedisKit.Tests;

/// <summary>
/// xUnit's own test framework with one addition: the test collection named <see cref="AfterSuiteFramework.Collection"/>
/// runs after every other collection has finished, so its tests can check what the whole suite left behind on the
/// shared servers (<see cref="Servers"/>). xUnit 2 runs collections in parallel and has no order between them, and an
/// assembly fixture's disposal cannot fail a test; this keeps the check an ordinary test, reported as one.
/// </summary>
public sealed class AfterSuiteFramework(IMessageSink messageSink) : XunitTestFramework(messageSink)
{
    /// <summary>The name of the collection that runs last.</summary>
    public const string Collection = "after the suite";

    protected override ITestFrameworkExecutor CreateExecutor(AssemblyName assemblyName) =>
        new Executor(assemblyName, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Executor(AssemblyName assemblyName, ISourceInformationProvider sourceInformationProvider, IMessageSink diagnosticMessageSink)
        : XunitTestFrameworkExecutor(assemblyName, sourceInformationProvider, diagnosticMessageSink)
    {
        // async void, as in XunitTestFrameworkExecutor itself: the runner reports completion through the message sink.
        protected override async void RunTestCases(IEnumerable<IXunitTestCase> testCases, IMessageSink executionMessageSink, ITestFrameworkExecutionOptions executionOptions)
        {
            using var runner = new Runner(TestAssembly, testCases, DiagnosticMessageSink, executionMessageSink, executionOptions);
            await runner.RunAsync();
        }
    }

    private sealed class Runner(ITestAssembly testAssembly, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnosticMessageSink, IMessageSink executionMessageSink, ITestFrameworkExecutionOptions executionOptions)
        : XunitTestAssemblyRunner(testAssembly, testCases, diagnosticMessageSink, executionMessageSink, executionOptions)
    {
        // Xunit.Sdk.IMessageBus spelled out: RedisKit has a type of that name.
        protected override async Task<RunSummary> RunTestCollectionsAsync(Xunit.Sdk.IMessageBus messageBus, CancellationTokenSource cancellationTokenSource)
        {
            var all = TestCases.ToList();
            var last = all.Where(c => c.TestMethod.TestClass.TestCollection.DisplayName == Collection).ToList();
            TestCases = [.. all.Except(last)];
            try
            {
                var summary = await base.RunTestCollectionsAsync(messageBus, cancellationTokenSource);

                // A cancelled run (including stop-on-fail) skips it, as xUnit's own loop skips the collections left.
                if (last.Count > 0 && !cancellationTokenSource.IsCancellationRequested)
                {
                    summary.Aggregate(await RunTestCollectionAsync(messageBus, last[0].TestMethod.TestClass.TestCollection, last, cancellationTokenSource));
                }

                return summary;
            }
            finally
            {
                TestCases = all; // the assembly's finished message lists every test case, as its starting message did
            }
        }
    }
}

/// <summary>The collection <see cref="AfterSuiteFramework"/> runs last.</summary>
[CollectionDefinition(AfterSuiteFramework.Collection, DisableParallelization = true)]
public sealed class AfterSuiteCollection;
