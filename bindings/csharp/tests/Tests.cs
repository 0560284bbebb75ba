using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace OpenCde.Documents.Tests
{
    internal static partial class Tests
    {
        private const string Token = "s3cr3t-Token_for-tests";
        private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

        // Expected safe names of the simulator's default documents.
        private const string Doc1Name = "Structure L2.ifc";
        private const string Doc2Sent = "Проект/模型 ü.ifc";
        private const string Doc2Name = "Проект_模型 ü.ifc";
        private const string Doc3Name = "site-plan.pdf";

        // ------------------------------------------------------------------ helpers

        private static SelectionResult SelectAll(CdeClient cde, SelectionOptions options = null)
        {
            var browserErrors = new List<Exception>();
            Task<SelectionResult> task = cde.SelectDocumentsAsync(options, Browser.Auto("all", browserErrors));
            Assert.True(task.Wait(Long), "selection did not finish within " + Long.TotalSeconds + " s");
            SelectionResult result = task.Result;
            Assert.Equal(SelectionOutcome.Selected, result.Outcome, "outcome (browser errors: " + string.Join("; ", browserErrors.Select(e => e.Message).ToArray()) + ")");
            return result;
        }

        private static CdeDocument Doc(SelectionResult result, string id)
        {
            CdeDocument doc = result.Documents.FirstOrDefault(d => d.DocumentId == id);
            Assert.True(doc != null, "document " + id + " not in the selection");
            return doc;
        }

        private static T Await<T>(Task<T> task)
        {
            Assert.True(task.Wait(Long), "task did not finish within " + Long.TotalSeconds + " s");
            return task.Result;
        }

        private static void Await(Task task)
        {
            Assert.True(task.Wait(Long), "task did not finish within " + Long.TotalSeconds + " s");
        }

        private static void WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
        {
            var watch = Stopwatch.StartNew();
            while (!condition())
            {
                Assert.True(watch.Elapsed < timeout, "timed out waiting for " + what);
                Thread.Sleep(10);
            }
        }

        private static byte[] Utf8Bytes(string s)
        {
            return new UTF8Encoding(false, true).GetBytes(s);
        }

        // ------------------------------------------------------------------ ABI

        [Test]
        private static void StructLayoutsMatchTheHeader()
        {
            int p = IntPtr.Size;
            Type o = typeof(OcdeSelectionOptionsNative);
            Assert.Equal(0, (int)Marshal.OffsetOf(o, "struct_size"), "struct_size offset");
            Assert.Equal(4, (int)Marshal.OffsetOf(o, "callback_expires_in_s"), "callback_expires_in_s offset");
            Assert.Equal(8, (int)Marshal.OffsetOf(o, "callback_port"), "callback_port offset");
            Assert.Equal(p == 8 ? 16 : 12, (int)Marshal.OffsetOf(o, "server_context"), "server_context offset");
            Assert.Equal(p == 8 ? 24 : 16, (int)Marshal.OffsetOf(o, "supported_file_extensions"), "supported_file_extensions offset");
            Assert.Equal(p == 8 ? 32 : 20, (int)Marshal.OffsetOf(o, "supported_file_extensions_count"), "count offset");
            Assert.Equal(p == 8 ? 40 : 24, Marshal.SizeOf(o), "sizeof(OcdeSelectionOptions)");

            if (p == 8)
            {
                Type d = typeof(OcdeDocumentNative);
                string[] fields =
                {
                    "document_id", "title", "file_name", "size_in_bytes", "version_number", "version_index",
                    "creation_date", "download_url", "metadata_url", "versions_url", "version_url", "details_url",
                };
                for (int i = 0; i < fields.Length; i++)
                {
                    Assert.Equal(i * 8, (int)Marshal.OffsetOf(d, fields[i]), fields[i] + " offset");
                }
                Assert.Equal(96, Marshal.SizeOf(d), "sizeof(OcdeDocument)");
            }
        }

        [Test]
        private static void OptionsInitWritesExactlyStructSize()
        {
            int size = Marshal.SizeOf(typeof(OcdeSelectionOptionsNative));
            IntPtr buffer = Marshal.AllocHGlobal(size + 16);
            try
            {
                for (int i = 0; i < size + 16; i++)
                {
                    Marshal.WriteByte(buffer, i, 0xAB);
                }
                NativeMethods.ocde_selection_options_init(buffer, new UIntPtr((uint)size));
                Assert.Equal(size, Marshal.ReadInt32(buffer, 0), "struct_size");
                for (int i = 4; i < size; i++)
                {
                    Assert.Equal((byte)0, Marshal.ReadByte(buffer, i), "default byte " + i);
                }
                for (int i = size; i < size + 16; i++)
                {
                    Assert.Equal((byte)0xAB, Marshal.ReadByte(buffer, i), "byte " + i + " beyond struct_size untouched");
                }
            }
            finally
            {
                Marshal.FreeHGlobal(buffer);
            }

            var full = new SelectionOptions { CallbackExpiresIn = TimeSpan.FromMilliseconds(1500), CallbackPort = 4242, ServerContext = "ctx ü" };
            full.SupportedFileExtensions.Add(".ifc");
            full.SupportedFileExtensions.Add(".pdf");
            using (var options = new NativeSelectionOptions(full))
            {
                var back = (OcdeSelectionOptionsNative)Marshal.PtrToStructure(options.Pointer, typeof(OcdeSelectionOptionsNative));
                Assert.Equal((uint)size, back.struct_size, "struct_size");
                Assert.Equal(2u, back.callback_expires_in_s, "expiry rounded up to whole seconds");
                Assert.Equal((ushort)4242, back.callback_port, "port");
                Assert.Equal("ctx ü", Utf8.FromNative(back.server_context), "server_context");
                Assert.Equal(2UL, back.supported_file_extensions_count.ToUInt64(), "extension count");
                Assert.Equal(".pdf", Utf8.FromNative(Marshal.ReadIntPtr(back.supported_file_extensions, IntPtr.Size)), "second extension");
            }
        }

        [Test]
        private static void VersionAndStatusNames()
        {
            Assert.True(!string.IsNullOrEmpty(OcdeLibrary.Version), "version");
            foreach (OcdeStatus status in Enum.GetValues(typeof(OcdeStatus)))
            {
                Assert.Equal(OcdeLibrary.GetStatusName(status), OcdeLibrary.ManagedStatusName(status), "name of " + status);
            }
            Assert.Equal("OCDE_STATUS_USER_CANCELLED", OcdeLibrary.GetStatusName(OcdeStatus.UserCancelled), "user cancelled");
            Assert.Equal("OCDE_STATUS_UNKNOWN", OcdeLibrary.GetStatusName((OcdeStatus)99), "a status from a newer library");
            Assert.Equal("OCDE_STATUS_UNKNOWN", OcdeLibrary.ManagedStatusName((OcdeStatus)99), "managed name of an unknown status");
            var notHttp = Assert.Throws<OcdeException>(() => OcdeLibrary.OpenSystemBrowser("file:///etc/passwd"), "OpenSystemBrowser refuses non-http URLs");
            Assert.Equal(OcdeStatus.InvalidArgument, notHttp.Status, "status");
        }

        [Test]
        private static void CreationDatesAreParsedLeniently()
        {
            var expected = new DateTimeOffset(2024, 5, 17, 9, 12, 44, 123, TimeSpan.Zero);
            Assert.Equal(expected, CdeDocument.ParseDate("2024-05-17T09:12:44.123Z").Value, "RFC 3339");
            Assert.Equal(expected, CdeDocument.ParseDate("2024-05-17t09:12:44.123z").Value, "lower case");
            Assert.Equal(expected, CdeDocument.ParseDate("2024-05-17 09:12:44.123+00:00").Value, "space");
            Assert.Equal(expected.AddTicks(4567), CdeDocument.ParseDate("2024-05-17T09:12:44.123456789Z").Value, "nanoseconds truncated");
            Assert.Equal(expected, CdeDocument.ParseDate("2024-05-17T11:12:44.123+02:00").Value, "offset");
            Assert.Equal(new DateTimeOffset(2024, 5, 17, 9, 12, 44, TimeSpan.Zero), CdeDocument.ParseDate("2024-05-17T09:12:44").Value, "no offset: UTC");
            Assert.True(CdeDocument.ParseDate("") == null, "empty");
            Assert.True(CdeDocument.ParseDate("yesterday") == null, "garbage");
        }

        // ------------------------------------------------------------------ the whole flow

        [Test]
        private static void WholeFlowSelectDownloadCompareBytes()
        {
            using (var sim = new Simulator("--token", Token))
            using (var cde = new CdeClient(sim.Url) { AccessToken = Token })
            using (SelectionResult result = SelectAll(cde))
            {
                Assert.Equal(3, result.Documents.Count, "document count");
                Assert.True(!string.IsNullOrEmpty(result.ServerContext), "server_context");
                Assert.True(result.SelectionUrl.StartsWith("http://127.0.0.1:", StringComparison.Ordinal), "selection url " + result.SelectionUrl);

                CdeDocument doc2 = Doc(result, "doc-2");
                Assert.BytesEqual(Utf8Bytes(Doc2Sent), Utf8Bytes(doc2.FileName), "doc-2 file name as sent");
                Assert.Equal("Архитектура", doc2.Title, "doc-2 title");
                Assert.Equal(new DateTimeOffset(2024, 5, 17, 9, 12, 44, 123, TimeSpan.Zero), doc2.CreationDate.Value, "creation date");
                Assert.Equal("2024-05-17T09:12:44.123Z", doc2.CreationDateText, "creation date text");
                foreach (CdeDocument d in result.Documents)
                {
                    Assert.True(d.DownloadUrl.Length > 0 && d.MetadataUrl.Length > 0 && d.VersionsUrl.Length > 0 && d.VersionUrl.Length > 0, "links of " + d);
                    Assert.Equal(sim.Reference(d.DocumentId).LongLength, d.SizeInBytes, "declared size of " + d);
                }

                string dir = TempDirs.Create("flow");
                var expectedNames = new Dictionary<string, string> { { "doc-1", Doc1Name }, { "doc-2", Doc2Name }, { "doc-3", Doc3Name } };
                foreach (CdeDocument d in result.Documents)
                {
                    var reports = new List<DownloadProgress>();
                    string path = Await(cde.DownloadDocumentAsync(d, dir, new InlineProgress<DownloadProgress>(reports.Add)));
                    Assert.Equal(Path.Combine(dir, expectedNames[d.DocumentId]), path, "path of " + d.DocumentId);
                    byte[] expected = sim.Reference(d.DocumentId);
                    Assert.BytesEqual(expected, File.ReadAllBytes(path), "bytes of " + d.DocumentId);
                    Assert.True(reports.Count >= 2, "progress reported " + reports.Count + " times");
                    Assert.Equal(0L, reports[0].BytesReceived, "first progress");
                    Assert.Equal(expected.LongLength, reports[reports.Count - 1].BytesReceived, "last progress");
                    Assert.Equal(expected.LongLength, reports[reports.Count - 1].TotalBytes, "total");
                }
                string[] names = Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).ToArray();
                Assert.Equal(string.Join("|", expectedNames.Values.OrderBy(n => n, StringComparer.Ordinal).ToArray()), string.Join("|", names), "files in the folder");
            }
        }

        [Test]
        private static void SynchronousApiWithEveryDownloadMode()
        {
            foreach (string mode in new[] { "303", "302", "307", "200" })
            {
                using (var sim = new Simulator("--download", mode))
                using (var cde = new CdeClient(sim.Url))
                using (SelectionResult result = cde.SelectDocuments(null, Browser.Auto("all")))
                {
                    Assert.Equal(SelectionOutcome.Selected, result.Outcome, "outcome with --download " + mode);
                    string dir = TempDirs.Create("sync-" + mode);
                    foreach (CdeDocument d in result.Documents)
                    {
                        string path = cde.DownloadDocument(d, dir);
                        Assert.BytesEqual(sim.Reference(d.DocumentId), File.ReadAllBytes(path), d.DocumentId + " with --download " + mode);
                    }
                }
            }
        }

        [Test]
        private static void ParallelDownloads()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult result = SelectAll(cde))
            {
                // Same selection: the C ABI allows concurrent downloads (see DownloadsOfOneSelectionOverlap).
                string dir = TempDirs.Create("parallel-doc");
                Task<string>[] byDocument = result.Documents.Select(d => cde.DownloadDocumentAsync(d, dir)).ToArray();
                Assert.True(Task.WaitAll(byDocument, Long), "downloads did not finish");
                for (int i = 0; i < byDocument.Length; i++)
                {
                    Assert.BytesEqual(sim.Reference(result.Documents[i].DocumentId), File.ReadAllBytes(byDocument[i].Result), "parallel " + i);
                }

                // DownloadToPath needs no selection and really runs in parallel.
                string dir2 = TempDirs.Create("parallel-path");
                Task[] byPath = result.Documents.Select(d => cde.DownloadToPathAsync(d, Path.Combine(dir2, d.DocumentId + ".bin"))).ToArray();
                Assert.True(Task.WaitAll(byPath, Long), "downloads did not finish");
                foreach (CdeDocument d in result.Documents)
                {
                    Assert.BytesEqual(sim.Reference(d.DocumentId), File.ReadAllBytes(Path.Combine(dir2, d.DocumentId + ".bin")), "to path " + d.DocumentId);
                }
            }
        }

        [Test]
        private static void ServerContextAndOptionsReachTheCde()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                const string context = "ctx ü 模型 Проект";
                var options = new SelectionOptions { ServerContext = context, CallbackExpiresIn = TimeSpan.FromMinutes(2) };
                options.SupportedFileExtensions.Add(".ifc");
                options.SupportedFileExtensions.Add(".pdf");
                using (SelectionResult result = SelectAll(cde, options))
                {
                    // The simulator echoes the server_context it was sent.
                    Assert.BytesEqual(Utf8Bytes(context), Utf8Bytes(result.ServerContext), "server_context round trip");
                }
            }
        }

        [Test]
        private static void CallbackPortIsUsed()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();

            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                bool portBusy = false;
                Func<string, bool> auto = Browser.Auto("all");
                Func<string, bool> openUrl = url =>
                {
                    var second = new TcpListener(IPAddress.Loopback, port);
                    try
                    {
                        second.Start();
                        second.Stop();
                    }
                    catch (SocketException)
                    {
                        portBusy = true;
                    }
                    return auto(url);
                };
                using (SelectionResult result = Await(cde.SelectDocumentsAsync(new SelectionOptions { CallbackPort = port }, openUrl)))
                {
                    Assert.Equal(SelectionOutcome.Selected, result.Outcome, "outcome");
                    Assert.True(portBusy, "the library listens on the requested callback port " + port);
                }
            }
        }

        // ------------------------------------------------------------------ outcomes and errors

        [Test]
        private static void UserCancellationIsAResult()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                long created = HandleCounters.SelectionsCreated;
                long released = HandleCounters.SelectionsReleased;
                using (SelectionResult result = Await(cde.SelectDocumentsAsync(null, Browser.Auto("cancel"))))
                {
                    Assert.Equal(SelectionOutcome.UserCancelled, result.Outcome, "outcome");
                    Assert.Equal(0, result.Documents.Count, "documents");
                }
                Assert.Equal(HandleCounters.SelectionsCreated - created, HandleCounters.SelectionsReleased - released, "selection freed");
                AssertStillUsable(cde);
            }
        }

        /// After an outcome that is not an exception, the same client selects again.
        private static void AssertStillUsable(CdeClient cde)
        {
            using (SelectionResult again = Await(cde.SelectDocumentsAsync(null, Browser.Auto("all"))))
            {
                Assert.Equal(SelectionOutcome.Selected, again.Outcome, "the client is still usable");
                Assert.Equal(3, again.Documents.Count, "documents of the next selection");
            }
        }

        [Test]
        private static void ExpiryIsAResult()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                var watch = Stopwatch.StartNew();
                var options = new SelectionOptions { CallbackExpiresIn = TimeSpan.FromSeconds(1) };
                using (SelectionResult result = Await(cde.SelectDocumentsAsync(options, Browser.Ignore)))
                {
                    Assert.Equal(SelectionOutcome.Expired, result.Outcome, "outcome");
                }
                Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9) && watch.Elapsed < TimeSpan.FromSeconds(15), "expired after " + watch.Elapsed);
                AssertStillUsable(cde);
            }
        }

        [Test]
        private static void MissingOrWrongTokenIsUnauthorized()
        {
            using (var sim = new Simulator("--token", Token))
            using (var cde = new CdeClient(sim.Url))
            {
                var e = Assert.Throws<OcdeException>(() => Await(cde.SelectDocumentsAsync(null, Browser.Ignore)), "no token");
                Assert.Equal(OcdeStatus.Unauthorized, e.Status, "status");
                Assert.Equal(401, e.HttpStatus, "http status");
                Assert.True(e.Message.Length > 0, "message");

                const string wrong = "wrong-token-0123456789";
                cde.AccessToken = wrong;
                e = Assert.Throws<OcdeException>(() => cde.SelectDocuments(null, Browser.Ignore), "wrong token");
                Assert.Equal(OcdeStatus.Unauthorized, e.Status, "status");
                Assert.True(e.Message.IndexOf(wrong, StringComparison.Ordinal) < 0, "the message never contains the token: " + e.Message);

                cde.AccessToken = Token;
                using (SelectionResult result = SelectAll(cde))
                {
                    Assert.Equal(3, result.Documents.Count, "works with the right token");
                }
            }
        }

        [Test]
        private static void HttpErrorCarriesTheStatus()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                string dir = TempDirs.Create("http-error");
                var e = Assert.Throws<OcdeException>(
                    () => cde.DownloadToPath(sim.Url + "/documents/no-such-document/versions/1/download", Path.Combine(dir, "x.bin")),
                    "404");
                Assert.Equal(OcdeStatus.Http, e.Status, "status");
                Assert.Equal(404, e.HttpStatus, "http status");
                Assert.Equal("OCDE_STATUS_HTTP", e.StatusName, "status name");
                Assert.FolderEmpty(dir, "after a 404");
            }
        }

        [Test]
        private static void InvalidArgumentsAreRejected()
        {
            Assert.Throws<ArgumentNullException>(() => new CdeClient(null), "null url");
            Assert.Throws<ArgumentException>(() => new CdeClient("http://127.0.0.1/\0x"), "NUL in url");
            var bad = Assert.Throws<OcdeException>(() => new CdeClient("not a url"), "malformed url");
            Assert.Equal(OcdeStatus.InvalidArgument, bad.Status, "status");
            Assert.True(bad.Message.Length > 0 && bad.Message != "OCDE_STATUS_INVALID_ARGUMENT", "message from ocde_last_error: " + bad.Message);
            Assert.Throws<ArgumentOutOfRangeException>(() => new SelectionOptions { CallbackPort = 70000 }, "port");
            Assert.Throws<ArgumentOutOfRangeException>(() => new SelectionOptions { CallbackExpiresIn = TimeSpan.Zero }, "expiry");

            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                Assert.Throws<ArgumentException>(() => cde.AccessToken = "half \uD800 surrogate", "lone surrogate");
                Assert.Throws<ArgumentNullException>(() => cde.DownloadDocument(null, "/tmp"), "null document");
                Assert.Throws<ArgumentNullException>(() => cde.DownloadToPath((string)null, "/tmp/x"), "null url");
                string missing = Path.Combine(TempDirs.Create("missing"), "no", "such", "folder", "f.bin");
                using (SelectionResult result = SelectAll(cde))
                {
                    var io = Assert.Throws<OcdeException>(() => cde.DownloadToPath(result.Documents[0], missing), "missing folder");
                    Assert.Equal(OcdeStatus.Io, io.Status, "status");
                    var io2 = Assert.Throws<OcdeException>(() => cde.DownloadDocument(result.Documents[0], Path.GetDirectoryName(missing)), "missing folder");
                    Assert.Equal(OcdeStatus.Io, io2.Status, "status");
                }
            }
        }

        [Test]
        private static void OpenUrlDecliningOrThrowing()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                long created = HandleCounters.SelectionsCreated;
                var declined = Assert.Throws<OcdeException>(() => Await(cde.SelectDocumentsAsync(null, url => false)), "declined");
                Assert.Equal(OcdeStatus.Aborted, declined.Status, "status");

                var boom = new InvalidOperationException("boom from openUrl");
                Func<string, bool> thrower = url => { throw boom; };
                var thrown = Assert.Throws<InvalidOperationException>(() => Await(cde.SelectDocumentsAsync(null, thrower)), "throwing openUrl");
                Assert.True(ReferenceEquals(boom, thrown), "the very exception thrown by openUrl reaches the caller");
                Assert.True(thrown.StackTrace.Contains("Tests"), "original stack trace kept");

                Assert.Equal(created, HandleCounters.SelectionsCreated, "no selection was created");
                using (SelectionResult result = SelectAll(cde))
                {
                    Assert.Equal(3, result.Documents.Count, "client still usable");
                }
            }
        }

        // ------------------------------------------------------------------ cancellation

        [Test]
        private static void CancellationTokenAbortsThePoll()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                long created = HandleCounters.SelectionsCreated;
                long released = HandleCounters.SelectionsReleased;
                var opened = new ManualResetEventSlim();
                var cts = new CancellationTokenSource();
                Task<SelectionResult> task = cde.SelectDocumentsAsync(null, url => { opened.Set(); return true; }, cts.Token);
                Assert.True(opened.Wait(Long), "page opened");
                Thread.Sleep(500); // well inside a native poll (slices are 5 s)
                var watch = Stopwatch.StartNew();
                cts.Cancel();
                Assert.Throws<OperationCanceledException>(() => task.Wait(Long), "cancelled poll");
                Assert.True(task.IsCanceled, "task state is Canceled, status " + task.Status);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), "aborted at once, took " + watch.Elapsed);
                Assert.Equal(created + 1, HandleCounters.SelectionsCreated, "one selection");
                Assert.Equal(released + 1, HandleCounters.SelectionsReleased, "and it was freed");

                // Synchronous form, cancelled from another thread.
                var cts2 = new CancellationTokenSource();
                cts2.CancelAfter(300);
                Assert.Throws<OperationCanceledException>(() => cde.SelectDocuments(null, Browser.Ignore, cts2.Token), "sync cancelled poll");

                using (SelectionResult result = SelectAll(cde))
                {
                    Assert.Equal(3, result.Documents.Count, "client still usable");
                }
            }
        }

        [Test]
        private static void CancellationBeforeOrDuringStart()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            {
                long created = HandleCounters.SelectionsCreated;
                var cancelled = new CancellationTokenSource();
                cancelled.Cancel();
                Task<SelectionResult> task = cde.SelectDocumentsAsync(null, Browser.Ignore, cancelled.Token);
                Assert.Throws<OperationCanceledException>(() => task.Wait(Long), "already cancelled");
                Assert.True(task.IsCanceled, "canceled task");
                Assert.Throws<OperationCanceledException>(() => cde.SelectDocuments(null, Browser.Ignore, cancelled.Token), "sync, already cancelled");
                Assert.Equal(created, HandleCounters.SelectionsCreated, "nothing started");

                // Cancelled while the page is being opened: the start is aborted natively.
                var cts = new CancellationTokenSource();
                Assert.Throws<OperationCanceledException>(() => cde.SelectDocuments(null, url => { cts.Cancel(); return true; }, cts.Token), "cancelled in openUrl");
                Assert.Equal(created, HandleCounters.SelectionsCreated, "no selection was created");
            }
        }

        [Test]
        private static void CancellationTokenAbortsADownload()
        {
            using (var sim = new Simulator("--throttle", "200000"))
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult result = SelectAll(cde))
            {
                CdeDocument doc1 = Doc(result, "doc-1");
                string dir = TempDirs.Create("cancel-download");
                var cts = new CancellationTokenSource();
                var halfway = new ManualResetEventSlim();
                long calls = 0;
                Task<string> task = cde.DownloadDocumentAsync(
                    doc1,
                    dir,
                    new InlineProgress<DownloadProgress>(p =>
                    {
                        Interlocked.Increment(ref calls);
                        if (p.BytesReceived >= 100000)
                        {
                            halfway.Set();
                        }
                    }),
                    cts.Token);
                Assert.True(halfway.Wait(Long), "download under way");
                Assert.True(!task.IsCompleted, "throttled download still running");
                string[] during = Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).ToArray();
                Assert.True(during.Length == 1 && during[0].StartsWith(".", StringComparison.Ordinal), "one hidden temporary file while downloading: " + string.Join(", ", during));

                var watch = Stopwatch.StartNew();
                cts.Cancel();
                Assert.Throws<OperationCanceledException>(() => task.Wait(Long), "cancelled download");
                Assert.True(task.IsCanceled, "task state " + task.Status);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), "aborted promptly, took " + watch.Elapsed);
                Assert.FolderEmpty(dir, "after the cancelled download");

                // Client and selection still usable.
                string path = Await(cde.DownloadDocumentAsync(Doc(result, "doc-3"), dir));
                Assert.BytesEqual(sim.Reference("doc-3"), File.ReadAllBytes(path), "doc-3 after the cancellation");

                // Cancelled before it starts: nothing happens at all.
                var cancelled = new CancellationTokenSource();
                cancelled.Cancel();
                Assert.Throws<OperationCanceledException>(() => cde.DownloadDocument(doc1, dir, null, cancelled.Token), "already cancelled");
                Assert.Equal(1, Directory.GetFileSystemEntries(dir).Length, "only doc-3 in the folder");
            }
        }

        [Test]
        private static void CancelledDownloadLeavesAnExistingFileUntouched()
        {
            using (var sim = new Simulator("--throttle", "200000"))
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult result = SelectAll(cde))
            {
                string dir = TempDirs.Create("keep-existing");
                string target = Path.Combine(dir, "existing ü.ifc");
                File.WriteAllText(target, "previous version");
                var cts = new CancellationTokenSource();
                Task task = cde.DownloadToPathAsync(
                    Doc(result, "doc-1"),
                    target,
                    new InlineProgress<DownloadProgress>(p =>
                    {
                        if (p.BytesReceived >= 50000)
                        {
                            cts.Cancel(); // cancelling from inside the progress handler works too
                        }
                    }),
                    cts.Token);
                Assert.Throws<OperationCanceledException>(() => task.Wait(Long), "cancelled");
                Assert.Equal("previous version", File.ReadAllText(target), "existing file untouched");
                Assert.Equal(1, Directory.GetFileSystemEntries(dir).Length, "no temporary file left");
            }
        }

        [Test]
        private static void AbortAllDownloadsStopsEveryRunningDownload()
        {
            using (var sim = new Simulator("--throttle", "200000"))
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult result = SelectAll(cde))
            {
                cde.SetRetries(1, TimeSpan.FromMilliseconds(100));
                Assert.Throws<ArgumentOutOfRangeException>(() => cde.SetRetries(-1), "negative retries");
                CdeDocument doc1 = Doc(result, "doc-1");
                string dir = TempDirs.Create("abort-all");
                long received1 = 0;
                long received2 = 0;
                Task first = cde.DownloadToPathAsync(doc1, Path.Combine(dir, "one.ifc"), new InlineProgress<DownloadProgress>(p => Interlocked.Exchange(ref received1, p.BytesReceived)));
                Task second = cde.DownloadDocumentAsync(doc1, dir, new InlineProgress<DownloadProgress>(p => Interlocked.Exchange(ref received2, p.BytesReceived)));
                WaitUntil(() => Interlocked.Read(ref received1) > 20000 && Interlocked.Read(ref received2) > 20000, Long, "both downloads under way");
                cde.AbortAllDownloads();
                foreach (Task task in new[] { first, second })
                {
                    var e = Assert.Throws<OcdeException>(() => task.Wait(Long), "aborted download");
                    Assert.Equal(OcdeStatus.Aborted, e.Status, "status");
                }
                Assert.FolderEmpty(dir, "after AbortAllDownloads");

                // Later downloads are not affected.
                string path = cde.DownloadDocument(Doc(result, "doc-3"), dir);
                Assert.BytesEqual(sim.Reference("doc-3"), File.ReadAllBytes(path), "download after the abort");
                cde.Dispose();
                cde.AbortAllDownloads(); // harmless once disposed
            }
        }

        // ------------------------------------------------------------------ callbacks

        [Test]
        private static void ThrowingProgressAbortsCleanly()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult result = SelectAll(cde))
            {
                CdeDocument doc1 = Doc(result, "doc-1");
                string dir = TempDirs.Create("progress-throws");

                var boom = new IOException("progress handler failed");
                var thrown = Assert.Throws<IOException>(
                    () => Await(cde.DownloadDocumentAsync(doc1, dir, new InlineProgress<DownloadProgress>(p =>
                    {
                        if (p.BytesReceived > 0)
                        {
                            throw boom;
                        }
                    }))),
                    "throwing progress");
                Assert.True(ReferenceEquals(boom, thrown), "the very exception reaches the caller");
                Assert.FolderEmpty(dir, "after the throwing progress (async)");

                // Throwing on the very first report (before any byte), synchronous form.
                var early = Assert.Throws<FormatException>(
                    () => cde.DownloadDocument(doc1, dir, new InlineProgress<DownloadProgress>(p => { throw new FormatException("at once"); })),
                    "throwing at once");
                Assert.Equal("at once", early.Message, "message");
                Assert.FolderEmpty(dir, "after the throwing progress (sync)");

                // Calling the library from inside the callback is refused (and aborts the download).
                var reentry = Assert.Throws<InvalidOperationException>(
                    () => cde.DownloadToPath(doc1, Path.Combine(dir, "a.bin"), new InlineProgress<DownloadProgress>(p => cde.DownloadToPath(doc1, Path.Combine(dir, "b.bin")))),
                    "re-entry");
                Assert.True(reentry.Message.Contains("inside"), reentry.Message);
                Assert.FolderEmpty(dir, "after the re-entry");

                string path = cde.DownloadDocument(doc1, dir);
                Assert.BytesEqual(sim.Reference("doc-1"), File.ReadAllBytes(path), "usable afterwards");
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static string DownloadWithInlineDelegates(CdeClient cde, CdeDocument doc, string dir, Action onCall)
        {
            // Nothing but the native side refers to these delegates while the download runs.
            return cde.DownloadDocument(doc, dir, new InlineProgress<DownloadProgress>(p =>
            {
                onCall();
                GC.KeepAlive(new byte[512]); // produce garbage
            }));
        }

        [Test]
        private static void GcStressDuringThousandsOfCallbacks()
        {
            using (var sim = new Simulator("--throttle", "1000000", "--document-size", "doc-1=2500000"))
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult result = SelectAll(cde))
            {
                CdeDocument doc1 = Doc(result, "doc-1");
                Assert.Equal(2500000L, doc1.SizeInBytes, "--document-size");
                var logged = 0;
                cde.Log = (level, message) => Interlocked.Increment(ref logged);

                int stop = 0;
                long collections = 0;
                var collector = new Thread(() =>
                {
                    while (Volatile.Read(ref stop) == 0)
                    {
                        GC.Collect();
                        GC.WaitForPendingFinalizers();
                        Interlocked.Increment(ref collections);
                    }
                });
                collector.IsBackground = true;
                collector.Start();
                long calls = 0;
                string dir = TempDirs.Create("gc-stress");
                string path;
                try
                {
                    path = DownloadWithInlineDelegates(cde, doc1, dir, () => Interlocked.Increment(ref calls));
                    long callsAfterFirst = Interlocked.Read(ref calls);
                    Program.Note("progress called " + callsAfterFirst + " times during " + Interlocked.Read(ref collections) + " forced collections");
                    using (SelectionResult again = SelectAll(cde))
                    {
                        Assert.Equal(3, again.Documents.Count, "selection with an inline openUrl under GC stress");
                    }
                    Task second = cde.DownloadToPathAsync(doc1.DownloadUrl, Path.Combine(dir, "second.bin"), -1,
                        new InlineProgress<DownloadProgress>(p => Interlocked.Increment(ref calls)));
                    Await(second);
                    Assert.True(callsAfterFirst >= 1000, "progress called " + callsAfterFirst + " times (expected thousands with --throttle)");
                }
                finally
                {
                    Volatile.Write(ref stop, 1);
                    collector.Join();
                }
                Assert.True(Interlocked.Read(ref collections) >= 10, "only " + collections + " collections");
                Assert.BytesEqual(sim.Reference("doc-1"), File.ReadAllBytes(path), "bytes after GC stress");
                Assert.BytesEqual(sim.Reference("doc-1"), File.ReadAllBytes(Path.Combine(dir, "second.bin")), "second file");
            }
        }

        [Test]
        private static void LogHandlerReceivesWarningsAndItsExceptionsSurface()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult result = SelectAll(cde))
            {
                CdeDocument doc3 = Doc(result, "doc-3");
                string dir = TempDirs.Create("log");
                var messages = new List<string>();
                int threadId = Thread.CurrentThread.ManagedThreadId;
                bool sameThread = true;
                cde.Log = (level, message) =>
                {
                    if (Thread.CurrentThread.ManagedThreadId != threadId)
                    {
                        sameThread = false;
                    }
                    lock (messages)
                    {
                        messages.Add(level + ": " + message);
                    }
                };
                // A declared size that differs from a complete, framed transfer: logged, not an error.
                cde.DownloadToPath(doc3.DownloadUrl, Path.Combine(dir, "a.pdf"), doc3.SizeInBytes + 7);
                Assert.True(messages.Any(m => m.StartsWith("Warning: ", StringComparison.Ordinal)), "a warning was logged: " + string.Join(" | ", messages.ToArray()));
                Assert.True(sameThread, "log called on the calling thread");

                var boom = new InvalidOperationException("log handler failed");
                cde.Log = (level, message) => { throw boom; };
                var thrown = Assert.Throws<InvalidOperationException>(
                    () => cde.DownloadToPath(doc3.DownloadUrl, Path.Combine(dir, "b.pdf"), doc3.SizeInBytes + 7), "throwing log handler");
                Assert.True(ReferenceEquals(boom, thrown), "the log handler's exception reaches the caller");

                cde.Log = null;
                cde.DownloadToPath(doc3.DownloadUrl, Path.Combine(dir, "c.pdf"), doc3.SizeInBytes + 7);
                Assert.BytesEqual(sim.Reference("doc-3"), File.ReadAllBytes(Path.Combine(dir, "c.pdf")), "without a log handler");
            }
        }

        // ------------------------------------------------------------------ non-ASCII paths

        [Test]
        private static void NonAsciiPathsRoundTripByteExact()
        {
            using (var sim = new Simulator())
            using (var cde = new CdeClient(sim.Url))
            using (SelectionResult result = SelectAll(cde))
            {
                string dir = Path.Combine(TempDirs.Create("Ünïcødé"), "Проект 模型 ü データ");
                Directory.CreateDirectory(dir);

                string path = cde.DownloadDocument(Doc(result, "doc-2"), dir);
                Assert.BytesEqual(Utf8Bytes(Path.Combine(dir, Doc2Name)), Utf8Bytes(path), "returned path");
                string[] files = Directory.GetFiles(dir);
                Assert.Equal(1, files.Length, "one file");
                Assert.BytesEqual(Utf8Bytes(Doc2Name), Utf8Bytes(Path.GetFileName(files[0])), "file name on disk");
                Assert.BytesEqual(sim.Reference("doc-2"), File.ReadAllBytes(Path.Combine(dir, Doc2Name)), "content");

                string custom = Path.Combine(dir, "план ü 图纸 ß.pdf");
                cde.DownloadToPath(Doc(result, "doc-3"), custom);
                Assert.True(File.Exists(custom), "custom non-ASCII path exists");
                Assert.BytesEqual(sim.Reference("doc-3"), File.ReadAllBytes(custom), "custom path content");
                Assert.Equal(2, Directory.GetFiles(dir).Length, "two files, no strays");
            }
        }

        // ------------------------------------------------------------------ disposal

        [Test]
        private static void DisposalIsSafeAndFinal()
        {
            using (var sim = new Simulator())
            {
                string dir = TempDirs.Create("dispose");
                var cde = new CdeClient(sim.Url);
                SelectionResult result = SelectAll(cde);
                CdeDocument doc = Doc(result, "doc-3");

                cde.Dispose();
                cde.Dispose();
                Assert.True(cde.IsDisposed, "IsDisposed");
                Assert.Throws<ObjectDisposedException>(() => cde.SelectDocumentsAsync(null, Browser.Ignore), "SelectDocumentsAsync");
                Assert.Throws<ObjectDisposedException>(() => cde.SelectDocuments(null, Browser.Ignore), "SelectDocuments");
                Assert.Throws<ObjectDisposedException>(() => cde.AccessToken = "x", "AccessToken");
                Assert.Throws<ObjectDisposedException>(() => cde.SetTimeouts(TimeSpan.FromSeconds(1), null), "SetTimeouts");
                Assert.Throws<ObjectDisposedException>(() => cde.SetRetries(1), "SetRetries");
                Assert.Throws<ObjectDisposedException>(() => cde.Log = (l, m) => { }, "Log");
                Assert.Throws<ObjectDisposedException>(() => cde.DownloadDocument(doc, dir), "DownloadDocument");
                Assert.Throws<ObjectDisposedException>(() => cde.DownloadDocumentAsync(doc, dir), "DownloadDocumentAsync");
                Assert.Throws<ObjectDisposedException>(() => cde.DownloadToPath(doc, Path.Combine(dir, "x")), "DownloadToPath");

                // The selection outlives its client (the C ABI allows it) and works with another one.
                using (var other = new CdeClient(sim.Url))
                {
                    string path = other.DownloadDocument(doc, dir);
                    Assert.BytesEqual(sim.Reference("doc-3"), File.ReadAllBytes(path), "selection after its client was disposed");
                    result.Dispose();
                    result.Dispose();
                    Assert.Throws<ObjectDisposedException>(() => other.DownloadDocument(doc, dir), "document of a disposed selection");
                    // A document's URL needs no selection.
                    other.DownloadToPath(doc, Path.Combine(dir, "by-url.pdf"));
                    Assert.BytesEqual(sim.Reference("doc-3"), File.ReadAllBytes(Path.Combine(dir, "by-url.pdf")), "by URL after disposal");
                }
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void AbandonClientAndSelection(string url)
        {
            var cde = new CdeClient(url);
            cde.Log = (l, m) => GC.KeepAlive(cde); // a handler capturing its client must not keep it alive
            SelectAll(cde); // neither the client nor the result is disposed
        }

        [Test]
        private static void NoNativeHandleOutlivesItsWrapper()
        {
            using (var sim = new Simulator())
            {
                long clientsCreated = HandleCounters.ClientsCreated;
                long clientsReleased = HandleCounters.ClientsReleased;
                long selectionsCreated = HandleCounters.SelectionsCreated;
                long selectionsReleased = HandleCounters.SelectionsReleased;

                for (int i = 0; i < 3; i++)
                {
                    using (var cde = new CdeClient(sim.Url))
                    {
                        using (SelectionResult result = SelectAll(cde))
                        {
                            cde.DownloadDocument(result.Documents[2], TempDirs.Create("handles"));
                        }
                        using (Await(cde.SelectDocumentsAsync(null, Browser.Auto("cancel"))))
                        {
                        }
                    }
                }
                Assert.Equal(3L, HandleCounters.ClientsCreated - clientsCreated, "clients created");
                Assert.Equal(6L, HandleCounters.SelectionsCreated - selectionsCreated, "selections created");
                Assert.Equal(HandleCounters.ClientsCreated - clientsCreated, HandleCounters.ClientsReleased - clientsReleased, "every client freed by Dispose");
                Assert.Equal(HandleCounters.SelectionsCreated - selectionsCreated, HandleCounters.SelectionsReleased - selectionsReleased, "every selection freed by Dispose");

                // Not disposed: the finalizers free them.
                AbandonClientAndSelection(sim.Url);
                WaitUntil(
                    () =>
                    {
                        GC.Collect();
                        GC.WaitForPendingFinalizers();
                        return HandleCounters.ClientsCreated - clientsCreated == HandleCounters.ClientsReleased - clientsReleased
                            && HandleCounters.SelectionsCreated - selectionsCreated == HandleCounters.SelectionsReleased - selectionsReleased;
                    },
                    TimeSpan.FromSeconds(20),
                    "finalizers to free the abandoned client and selection");
            }
        }
    }
}
