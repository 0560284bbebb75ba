// Tests of DownloadSelection(Async), concurrent downloads of one selection, and SetRootCertificates.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace OpenCde.Documents.Tests
{
    internal static partial class Tests
    {
        private static readonly Dictionary<string, string> SafeNames = new Dictionary<string, string>
        {
            { "doc-1", Doc1Name },
            { "doc-2", Doc2Name },
            { "doc-3", Doc3Name },
        };

        /// <summary>Records selection progress: threads, order, and how many documents were in flight at once.</summary>
        private sealed class SelectionProgressLog : IProgress<SelectionDownloadProgress>
        {
            private readonly Dictionary<int, bool> _started = new Dictionary<int, bool>(); // index -> finished
            public readonly List<SelectionDownloadProgress> Reports = new List<SelectionDownloadProgress>();
            public readonly HashSet<int> Threads = new HashSet<int>();
            public int MaxInFlight;
            public Action<SelectionDownloadProgress> Then;

            public void Report(SelectionDownloadProgress value)
            {
                // No lock: the wrapper promises calls on one thread only (checked through Threads).
                Threads.Add(Thread.CurrentThread.ManagedThreadId);
                Reports.Add(value);
                _started[value.Document.Index] = value.TotalBytes >= 0 && value.BytesReceived >= value.TotalBytes;
                MaxInFlight = Math.Max(MaxInFlight, _started.Values.Count(finished => !finished));
                if (Then != null)
                {
                    Then(value);
                }
            }
        }

        private static void CheckAllWritten(Simulator sim, SelectionResult selection, SelectionDownloadResult r, string dir, string what)
        {
            Assert.True(r.AllSucceeded, what + ": all succeeded (" + r + ": " + string.Join("; ", r.Failed.Select(f => f.ToString()).ToArray()) + ")");
            Assert.Equal(OcdeStatus.Ok, r.Status, what + ": status");
            Assert.Equal(selection.Documents.Count, r.Documents.Count, what + ": one result per document");
            for (int i = 0; i < r.Documents.Count; i++)
            {
                DocumentDownloadResult d = r.Documents[i];
                Assert.True(ReferenceEquals(selection.Documents[i], d.Document), what + ": result " + i + " is document " + i);
                Assert.Equal(OcdeStatus.Ok, d.Status, what + ": status of " + d.Document.DocumentId);
                Assert.True(d.Succeeded && d.Error == null, what + ": no error for " + d.Document.DocumentId + ": " + d.Error);
                Assert.Equal(Path.Combine(dir, SafeNames[d.Document.DocumentId]), d.Path, what + ": path of " + d.Document.DocumentId);
                Assert.BytesEqual(sim.Reference(d.Document.DocumentId), File.ReadAllBytes(d.Path), what + ": bytes of " + d.Document.DocumentId);
            }
            Assert.Equal(selection.Documents.Count, Directory.GetFileSystemEntries(dir).Length, what + ": no stray or temporary file");
        }

        private static void CheckProgress(Simulator sim, SelectionResult selection, SelectionProgressLog log, string what)
        {
            long sum = selection.Documents.Sum(d => sim.Reference(d.DocumentId).LongLength);
            Assert.True(log.Reports.Count >= selection.Documents.Count * 2, what + ": " + log.Reports.Count + " reports");
            Assert.Equal(1, log.Threads.Count, what + ": progress threads");
            long previous = 0;
            foreach (SelectionDownloadProgress p in log.Reports)
            {
                Assert.True(p.AllBytesReceived >= previous && p.AllBytesReceived <= sum, what + ": overall progress " + p);
                Assert.Equal(sum, p.AllTotalBytes, what + ": overall total (every size is declared)");
                previous = p.AllBytesReceived;
            }
            SelectionDownloadProgress last = log.Reports[log.Reports.Count - 1];
            Assert.Equal(sum, last.AllBytesReceived, what + ": all_received reaches the total");
            Assert.Equal(1.0, last.OverallProgress.Fraction.Value, what + ": fraction");
            foreach (CdeDocument d in selection.Documents)
            {
                long size = sim.Reference(d.DocumentId).LongLength;
                SelectionDownloadProgress mine = log.Reports.Last(p => ReferenceEquals(p.Document, d));
                Assert.Equal(size, mine.BytesReceived, what + ": last report of " + d.DocumentId);
                Assert.Equal(size, mine.TotalBytes, what + ": total of " + d.DocumentId);
            }
        }

        // ------------------------------------------------------------------ whole selection

        [Test]
        private static void DownloadSelectionInParallelByteExact()
        {
            // 1 MB/s per transfer: the three documents take about 1.5 s, 0.4 s and 0.4 s.
            using (var sim = new Simulator("--throttle", "1000000", "--document-size", "doc-2=400000", "--document-size", "doc-3=400000"))
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult selection = SelectAll(cde))
            {
                // Synchronous: progress comes on the calling thread only.
                string dir = TempDirs.Create("selection-parallel");
                var log = new SelectionProgressLog();
                var watch = Stopwatch.StartNew();
                SelectionDownloadResult r = cde.DownloadSelection(selection, dir, 4, log);
                TimeSpan parallelTime = watch.Elapsed;
                CheckAllWritten(sim, selection, r, dir, "parallel");
                CheckProgress(sim, selection, log, "parallel");
                Assert.Equal(Thread.CurrentThread.ManagedThreadId, log.Threads.Single(), "progress on the calling thread");
                Assert.True(log.MaxInFlight >= 2, "transfers overlapped (at most " + log.MaxInFlight + " in flight)");

                // Asynchronous, one transfer at a time (into a folder already holding the files:
                // they are replaced, under the same names).
                var log1 = new SelectionProgressLog();
                watch.Restart();
                SelectionDownloadResult r1 = Await(cde.DownloadSelectionAsync(selection, dir, 1, log1));
                TimeSpan serialTime = watch.Elapsed;
                CheckAllWritten(sim, selection, r1, dir, "maxParallel 1");
                CheckProgress(sim, selection, log1, "maxParallel 1");
                Assert.True(!log1.Threads.Contains(Thread.CurrentThread.ManagedThreadId), "async progress on the download's own thread");
                Assert.Equal(1, log1.MaxInFlight, "maxParallel 1: one transfer at a time");
                Program.Note("parallel " + parallelTime.TotalSeconds.ToString("0.00") + " s, one at a time " + serialTime.TotalSeconds.ToString("0.00") + " s");

                // No progress handler at all.
                string dir2 = TempDirs.Create("selection-no-progress");
                CheckAllWritten(sim, selection, Await(cde.DownloadSelectionAsync(selection, dir2)), dir2, "no progress handler");
            }
        }

        [Test]
        private static void DownloadSelectionArguments()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                string dir = TempDirs.Create("selection-args");
                using (SelectionResult cancelled = Await(cde.SelectDocumentsAsync(null, Browser.Auto("cancel"))))
                {
                    Assert.Equal(SelectionOutcome.UserCancelled, cancelled.Outcome, "outcome");
                    Assert.Throws<ArgumentException>(() => cde.DownloadSelection(cancelled, dir), "a selection without documents");
                }
                using (SelectionResult selection = SelectAll(cde))
                {
                    Assert.Throws<ArgumentNullException>(() => cde.DownloadSelection(null, dir), "null selection");
                    Assert.Throws<ArgumentNullException>(() => cde.DownloadSelectionAsync(selection, null), "null folder");
                    Assert.Throws<ArgumentOutOfRangeException>(() => cde.DownloadSelection(selection, dir, 0), "maxParallel 0");
                    Assert.Throws<ArgumentException>(() => cde.DownloadSelection(selection, dir + "\0x"), "NUL in the folder");

                    // A missing folder fails every document: still a result, not an exception.
                    string missing = Path.Combine(dir, "no", "such", "folder");
                    SelectionDownloadResult r = cde.DownloadSelection(selection, missing);
                    Assert.True(!r.AllSucceeded, "missing folder: not all succeeded");
                    Assert.Equal(OcdeStatus.Io, r.Status, "missing folder: status");
                    foreach (DocumentDownloadResult d in r.Documents)
                    {
                        Assert.Equal(OcdeStatus.Io, d.Status, "missing folder: status of " + d.Document.DocumentId);
                        Assert.True(d.Path == null && !string.IsNullOrEmpty(d.Error), "missing folder: no path, an error: " + d);
                    }

                    // Calling the library from inside the progress handler is refused (and aborts).
                    var reentry = Assert.Throws<InvalidOperationException>(
                        () => cde.DownloadSelection(selection, dir, 2, new InlineProgress<SelectionDownloadProgress>(p => cde.DownloadSelection(selection, dir))),
                        "re-entry");
                    Assert.True(reentry.Message.Contains("inside"), reentry.Message);
                    Assert.True(Directory.GetFileSystemEntries(dir).All(e => !Path.GetFileName(e).StartsWith(".", StringComparison.Ordinal)), "no temporary file after the re-entry");
                }
                cde.Dispose();
                using (var other = new CdeClient(sim.Url))
                using (SelectionResult selection = SelectAll(other))
                {
                    Assert.Throws<ObjectDisposedException>(() => cde.DownloadSelection(selection, dir), "disposed client");
                    selection.Dispose();
                    Assert.Throws<ObjectDisposedException>(() => other.DownloadSelectionAsync(selection, dir), "disposed selection");
                }
            }
        }

        // ------------------------------------------------------------------ cancellation

        [Test]
        private static void DownloadSelectionCancelledMidway()
        {
            // 200 kB/s per transfer and no small document: none can finish before the cancellation.
            using (var sim = new Simulator("--throttle", "200000", "--document-size", "doc-2=600000", "--document-size", "doc-3=600000"))
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult selection = SelectAll(cde))
            {
                string dir = TempDirs.Create("selection-cancel");
                var cts = new CancellationTokenSource();
                var underWay = new ManualResetEventSlim();
                var log = new SelectionProgressLog
                {
                    Then = p =>
                    {
                        if (p.AllBytesReceived >= 150000)
                        {
                            underWay.Set();
                        }
                    },
                };
                Task<SelectionDownloadResult> task = cde.DownloadSelectionAsync(selection, dir, 4, log, cts.Token);
                Assert.True(underWay.Wait(Long), "downloads under way");
                WaitUntil(() => Directory.GetFileSystemEntries(dir).Length >= 3, TimeSpan.FromSeconds(2), "a temporary file per document");
                Assert.True(!task.IsCompleted, "throttled downloads still running");
                string[] during = Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).ToArray();
                Assert.True(
                    during.Length == 3 && during.All(n => n.StartsWith(".", StringComparison.Ordinal) && n.EndsWith(".ocde-part", StringComparison.Ordinal)),
                    "three hidden .*.ocde-part files while downloading: " + string.Join(", ", during));

                var watch = Stopwatch.StartNew();
                cts.Cancel();
                Assert.Throws<OperationCanceledException>(() => task.Wait(Long), "cancelled selection download");
                Assert.True(task.IsCanceled, "task state " + task.Status);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), "aborted promptly, took " + watch.Elapsed);
                Assert.FolderEmpty(dir, "after the cancelled selection download");

                // Cancelled from inside the progress handler, synchronous form.
                var cts2 = new CancellationTokenSource();
                Assert.Throws<OperationCanceledException>(
                    () => cde.DownloadSelection(selection, dir, 4, new InlineProgress<SelectionDownloadProgress>(p =>
                    {
                        if (p.AllBytesReceived >= 50000)
                        {
                            cts2.Cancel();
                        }
                    }), cts2.Token),
                    "cancelled from the progress handler");
                Assert.FolderEmpty(dir, "after the cancellation from the handler");

                // A throwing progress handler: every transfer stops, the same exception surfaces.
                var boom = new IOException("selection progress failed");
                var thrown = Assert.Throws<IOException>(
                    () => Await(cde.DownloadSelectionAsync(selection, dir, 4, new InlineProgress<SelectionDownloadProgress>(p =>
                    {
                        if (p.AllBytesReceived >= 50000)
                        {
                            throw boom;
                        }
                    }))),
                    "throwing progress");
                Assert.True(ReferenceEquals(boom, thrown), "the very exception reaches the caller");
                Assert.True(thrown.StackTrace.Contains("Tests"), "original stack trace kept");
                Assert.FolderEmpty(dir, "after the throwing progress handler");

                // Already cancelled: nothing starts.
                Assert.Throws<OperationCanceledException>(() => cde.DownloadSelection(selection, dir, 4, null, cts.Token), "already cancelled");
                Task<SelectionDownloadResult> early = cde.DownloadSelectionAsync(selection, dir, 4, null, cts.Token);
                Assert.Throws<OperationCanceledException>(() => early.Wait(Long), "already cancelled (async)");
                Assert.True(early.IsCanceled, "task state " + early.Status);
                Assert.FolderEmpty(dir, "nothing started");
            }
        }

        [Test]
        private static void DownloadSelectionCancellationWakesRetryWaits()
        {
            // Every blob answers 503 with Retry-After: 10, so each transfer sleeps 10 s between
            // attempts: no chunk arrives, only the client-wide abort wakes it.
            using (var storage = new StorageServer(path => StorageReply.Unavailable(10)))
            using (var sim = new Simulator("--external-storage", storage.BaseUrl))
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult selection = SelectAll(cde))
            {
                cde.SetRetries(3, TimeSpan.FromMilliseconds(100));
                string dir = TempDirs.Create("selection-retry-cancel");
                var cts = new CancellationTokenSource();
                Task<SelectionDownloadResult> task = cde.DownloadSelectionAsync(selection, dir, 4, null, cts.Token);
                WaitUntil(() => storage.Requests.Length >= 3, Long, "a first attempt of every document");
                Thread.Sleep(300); // now in the 10 s waits
                var watch = Stopwatch.StartNew();
                cts.Cancel();
                Assert.Throws<OperationCanceledException>(() => task.Wait(Long), "cancelled during retry waits");
                Assert.True(task.IsCanceled, "task state " + task.Status);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), "the waits were woken, took " + watch.Elapsed);
                Assert.FolderEmpty(dir, "after the cancellation");

                // AbortAllDownloads (not our token) is a result with every document Aborted.
                int before = storage.Requests.Length;
                Task<SelectionDownloadResult> second = cde.DownloadSelectionAsync(selection, dir);
                WaitUntil(() => storage.Requests.Length >= before + 3, Long, "second run under way");
                Thread.Sleep(300);
                cde.AbortAllDownloads();
                SelectionDownloadResult r = Await(second);
                Assert.Equal(OcdeStatus.Aborted, r.Status, "status after AbortAllDownloads");
                Assert.True(!r.AllSucceeded, "not all succeeded");
                Assert.True(r.Documents.All(d => d.Status == OcdeStatus.Aborted && d.Path == null), "every document aborted: " + string.Join("; ", r.Documents.Select(d => d.ToString()).ToArray()));
                Assert.FolderEmpty(dir, "after AbortAllDownloads");
            }
        }

        // ------------------------------------------------------------------ partial failure

        [Test]
        private static void DownloadSelectionPartialFailureIsAResult()
        {
            // The simulator redirects downloads to our storage (--external-storage), which serves
            // doc-1 and doc-3 and answers 404 for doc-2, like an expired presigned URL.
            Simulator sim = null;
            using (var storage = new StorageServer(path => path == "/doc-2" ? StorageReply.NotFound() : StorageReply.Bytes(sim.Reference(path.TrimStart('/')))))
            using (sim = new Simulator("--external-storage", storage.BaseUrl))
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult selection = SelectAll(cde))
            {
                foreach (bool useAsync in new[] { false, true })
                {
                    string what = useAsync ? "async" : "sync";
                    string dir = TempDirs.Create("selection-partial-" + what);
                    SelectionDownloadResult r = useAsync ? Await(cde.DownloadSelectionAsync(selection, dir)) : cde.DownloadSelection(selection, dir);
                    Assert.True(!r.AllSucceeded, what + ": not all succeeded");
                    Assert.Equal(OcdeStatus.Http, r.Status, what + ": overall status (the first failure)");
                    Assert.Equal(3, r.Documents.Count, what + ": results");
                    Assert.Equal("doc-2", r.Failed.Single().Document.DocumentId, what + ": the failed document");
                    foreach (DocumentDownloadResult d in r.Documents)
                    {
                        if (d.Document.DocumentId == "doc-2")
                        {
                            Assert.Equal(OcdeStatus.Http, d.Status, what + ": status of doc-2");
                            Assert.True(d.Path == null, what + ": no path for doc-2");
                            Assert.True(d.Error != null && d.Error.Contains("404"), what + ": the error names the HTTP status: " + d.Error);
                        }
                        else
                        {
                            Assert.Equal(OcdeStatus.Ok, d.Status, what + ": status of " + d.Document.DocumentId + " (" + d.Error + ")");
                            Assert.Equal(Path.Combine(dir, SafeNames[d.Document.DocumentId]), d.Path, what + ": path of " + d.Document.DocumentId);
                            Assert.BytesEqual(sim.Reference(d.Document.DocumentId), File.ReadAllBytes(d.Path), what + ": bytes of " + d.Document.DocumentId);
                        }
                    }
                    string[] names = Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray();
                    Assert.Equal(Doc1Name + "|" + Doc3Name, string.Join("|", names), what + ": files in the folder (no temporary file)");
                }
                Program.Note(selection.Documents.Count + " documents, storage requests: " + string.Join(", ", storage.Requests));
            }
        }

        // ------------------------------------------------------------------ concurrency and disposal

        [Test]
        private static void DownloadsOfOneSelectionOverlap()
        {
            using (var sim = new Simulator("--throttle", "300000", "--document-size", "doc-1=900000"))
            using (var cde = new CdeClient(sim.Url))
            {
                long released = HandleCounters.SelectionsReleased;
                SelectionResult selection = SelectAll(cde);
                CdeDocument doc1 = Doc(selection, "doc-1");
                string dirA = TempDirs.Create("overlap-a");
                string dirB = TempDirs.Create("overlap-b");
                string dirC = TempDirs.Create("overlap-c");
                long receivedA = 0;
                long receivedB = 0;
                long receivedAll = 0;
                Task<string> a = cde.DownloadDocumentAsync(doc1, dirA, new InlineProgress<DownloadProgress>(p => Interlocked.Exchange(ref receivedA, p.BytesReceived)));
                Task<string> b = cde.DownloadDocumentAsync(doc1, dirB, new InlineProgress<DownloadProgress>(p => Interlocked.Exchange(ref receivedB, p.BytesReceived)));
                Task<SelectionDownloadResult> c = cde.DownloadSelectionAsync(selection, dirC, 4, new InlineProgress<SelectionDownloadProgress>(p => Interlocked.Exchange(ref receivedAll, p.AllBytesReceived)));
                // Each takes 3 s alone: both under way at once means no lock serialises them.
                WaitUntil(
                    () => Interlocked.Read(ref receivedA) > 50000 && Interlocked.Read(ref receivedB) > 50000 && Interlocked.Read(ref receivedAll) > 50000,
                    Long,
                    "three downloads of one selection under way at once");
                Assert.True(!a.IsCompleted && !b.IsCompleted && !c.IsCompleted, "all still running");

                // Disposing the selection meanwhile: they finish, and the native selection is freed
                // only after the last of them has returned.
                selection.Dispose();
                Assert.Throws<ObjectDisposedException>(() => cde.DownloadDocument(doc1, dirA), "new download after Dispose");
                Assert.Throws<ObjectDisposedException>(() => cde.DownloadSelection(selection, dirA), "new selection download after Dispose");
                Assert.Equal(released, HandleCounters.SelectionsReleased, "not freed while downloads run");

                // The same for the client.
                long clientsReleased = HandleCounters.ClientsReleased;
                cde.Dispose();
                Assert.True(cde.IsDisposed, "client IsDisposed while its downloads run");
                Assert.Throws<ObjectDisposedException>(() => cde.SetRetries(1), "client member after Dispose");
                Assert.Equal(clientsReleased, HandleCounters.ClientsReleased, "client not freed while downloads run");

                Assert.BytesEqual(sim.Reference("doc-1"), File.ReadAllBytes(Await(a)), "first download of doc-1");
                Assert.BytesEqual(sim.Reference("doc-1"), File.ReadAllBytes(Await(b)), "second download of doc-1");
                SelectionDownloadResult r = Await(c);
                CheckAllWritten(sim, selection, r, dirC, "selection download across Dispose");
                Assert.Equal(released + 1, HandleCounters.SelectionsReleased, "selection freed once they returned");
                Assert.Equal(clientsReleased + 1, HandleCounters.ClientsReleased, "client freed once they returned");
            }
        }

        // ------------------------------------------------------------------ TLS roots

        [Test]
        private static void SetRootCertificates()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                var garbage = Assert.Throws<OcdeException>(() => cde.SetRootCertificates("garbage, not a certificate"), "garbage");
                Assert.Equal(OcdeStatus.InvalidArgument, garbage.Status, "status");
                Assert.True(garbage.Message.Length > 0 && garbage.Message != "OCDE_STATUS_INVALID_ARGUMENT", "message from ocde_last_error: " + garbage.Message);

                var broken = Assert.Throws<OcdeException>(
                    () => cde.SetRootCertificates("-----BEGIN CERTIFICATE-----\nnot base64 at all !!!\n-----END CERTIFICATE-----\n"),
                    "a broken CERTIFICATE block");
                Assert.Equal(OcdeStatus.InvalidArgument, broken.Status, "status");
                Assert.Throws<ArgumentException>(() => cde.SetRootCertificates("half \uD800 surrogate"), "lone surrogate");

                const string bundle = "/etc/ssl/certs/ca-certificates.crt";
                if (File.Exists(bundle))
                {
                    cde.SetRootCertificates(File.ReadAllText(bundle));
                }
                else
                {
                    Program.Note(bundle + " not found: a valid PEM bundle was not tried");
                }
                cde.SetRootCertificates(null); // back to the bundled roots
                using (SelectionResult selection = SelectAll(cde))
                {
                    Assert.Equal(3, selection.Documents.Count, "client still usable");
                }
                cde.Dispose();
                Assert.Throws<ObjectDisposedException>(() => cde.SetRootCertificates(null), "disposed");
            }
        }
    }
}
