// A minimal test runner (no NuGet here), the simulator process and small helpers.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace OpenCde.Documents.Tests
{
    [AttributeUsage(AttributeTargets.Method)]
    internal sealed class TestAttribute : Attribute
    {
    }

    internal sealed class AssertionException : Exception
    {
        public AssertionException(string message)
            : base(message)
        {
        }
    }

    internal static class Assert
    {
        public static void True(bool condition, string message)
        {
            if (!condition)
            {
                throw new AssertionException(message);
            }
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
            {
                throw new AssertionException(what + ": expected <" + expected + "> but got <" + actual + ">");
            }
        }

        public static void BytesEqual(byte[] expected, byte[] actual, string what)
        {
            if (expected.Length != actual.Length)
            {
                throw new AssertionException(what + ": expected " + expected.Length + " bytes but got " + actual.Length);
            }
            for (int i = 0; i < expected.Length; i++)
            {
                if (expected[i] != actual[i])
                {
                    throw new AssertionException(what + ": first difference at byte " + i);
                }
            }
        }

        /// <summary>Runs <paramref name="action"/> and returns the exception of type T it throws (unwrapping AggregateException).</summary>
        public static T Throws<T>(Action action, string what) where T : Exception
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                Exception actual = Unwrap(e);
                var typed = actual as T;
                if (typed == null)
                {
                    throw new AssertionException(what + ": expected " + typeof(T).Name + " but got " + actual.GetType().Name + ": " + actual.Message + "\n" + actual.StackTrace);
                }
                return typed;
            }
            throw new AssertionException(what + ": expected " + typeof(T).Name + " but nothing was thrown");
        }

        public static Exception Unwrap(Exception e)
        {
            var aggregate = e as AggregateException;
            while (aggregate != null && aggregate.InnerExceptions.Count == 1)
            {
                e = aggregate.InnerException;
                aggregate = e as AggregateException;
            }
            return e;
        }

        /// <summary>No file and no hidden temporary (".*.ocde-part" or anything else) in the folder.</summary>
        public static void FolderEmpty(string dir, string what)
        {
            string[] entries = Directory.GetFileSystemEntries(dir);
            True(entries.Length == 0, what + ": folder not empty: " + string.Join(", ", entries.Select(Path.GetFileName).ToArray()));
        }
    }

    /// <summary>An IProgress that calls back synchronously (Progress&lt;T&gt; would post to a context).</summary>
    internal sealed class InlineProgress<T> : IProgress<T>
    {
        private readonly Action<T> _report;

        public InlineProgress(Action<T> report)
        {
            _report = report;
        }

        public void Report(T value)
        {
            _report(value);
        }
    }

    /// <summary>The cde-simulator binary, run until its stdin is closed.</summary>
    internal sealed class Simulator : IDisposable
    {
        private readonly Process _process;
        private readonly List<string> _stderr = new List<string>();

        public Simulator(params string[] args)
        {
            string binary = Environment.GetEnvironmentVariable("OCDE_SIMULATOR");
            if (string.IsNullOrEmpty(binary) || !File.Exists(binary))
            {
                throw new InvalidOperationException("Set OCDE_SIMULATOR to the cde-simulator binary (run-tests.sh does).");
            }
            ReferenceDir = TempDirs.Create("reference");
            var all = new List<string>(args);
            all.Add("--reference-dir");
            all.Add(ReferenceDir);
            Arguments = string.Join(" ", all.Select(Quote).ToArray());
            var psi = new ProcessStartInfo(binary, Arguments)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                StandardOutputEncoding = Encoding.UTF8,
                StandardErrorEncoding = Encoding.UTF8,
            };
            _process = Process.Start(psi);
            _process.ErrorDataReceived += (s, e) =>
            {
                if (e.Data != null)
                {
                    lock (_stderr)
                    {
                        if (_stderr.Count < 200)
                        {
                            _stderr.Add(e.Data);
                        }
                    }
                }
            };
            _process.BeginErrorReadLine();
            Task<string> line = Task.Factory.StartNew(() => _process.StandardOutput.ReadLine(), TaskCreationOptions.LongRunning);
            const string prefix = "DOCUMENTS_API_URL=";
            if (!line.Wait(TimeSpan.FromSeconds(30)) || line.Result == null || !line.Result.StartsWith(prefix, StringComparison.Ordinal))
            {
                Thread.Sleep(200);
                string got = line.IsCompleted ? line.Result : "(nothing within 30 s)";
                Dispose();
                throw new InvalidOperationException(
                    "cde-simulator " + Arguments + " did not print DOCUMENTS_API_URL=… (got: " + got + "). Its stderr:\n" + Stderr
                    + "\n(If it reports an unknown argument, this simulator lacks a flag of the contract.)");
            }
            Url = line.Result.Substring(prefix.Length).Trim();
        }

        public string Url { get; private set; }

        public string ReferenceDir { get; private set; }

        public string Arguments { get; private set; }

        public string Stderr
        {
            get
            {
                lock (_stderr)
                {
                    return string.Join("\n", _stderr.ToArray());
                }
            }
        }

        /// <summary>The exact bytes of a document, from --reference-dir.</summary>
        public byte[] Reference(string documentId)
        {
            string path = Path.Combine(ReferenceDir, documentId + ".bin");
            Assert.True(File.Exists(path), "simulator wrote no reference file " + path + " (--reference-dir)");
            return File.ReadAllBytes(path);
        }

        public void Dispose()
        {
            try
            {
                _process.StandardInput.Close();
                if (!_process.WaitForExit(10000))
                {
                    _process.Kill();
                    _process.WaitForExit(5000);
                }
            }
            catch (Exception)
            {
                // already gone
            }
            _process.Dispose();
        }

        private static string Quote(string arg)
        {
            return arg.IndexOfAny(new[] { ' ', '"', '\'' }) >= 0 ? "\"" + arg.Replace("\"", "\\\"") + "\"" : arg;
        }
    }

    /// <summary>One answer of a <see cref="StorageServer"/>.</summary>
    internal sealed class StorageReply
    {
        public int Status = 200;
        public string Reason = "OK";
        public byte[] Body = new byte[0];
        public string[] Headers = new string[0];

        public static StorageReply Bytes(byte[] body)
        {
            return new StorageReply { Body = body, Headers = new[] { "Content-Type: application/octet-stream" } };
        }

        public static StorageReply NotFound()
        {
            return new StorageReply { Status = 404, Reason = "Not Found", Body = Encoding.ASCII.GetBytes("no such blob"), Headers = new[] { "Content-Type: text/plain" } };
        }

        public static StorageReply Unavailable(int retryAfterSeconds)
        {
            return new StorageReply
            {
                Status = 503,
                Reason = "Service Unavailable",
                Body = Encoding.ASCII.GetBytes("temporarily unavailable"),
                Headers = new[] { "Content-Type: text/plain", "Retry-After: " + retryAfterSeconds },
            };
        }
    }

    /// <summary>
    /// A minimal HTTP/1.1 file server on 127.0.0.1 (one thread per connection, Connection: close),
    /// used as the simulator's --external-storage: its download endpoint then redirects to
    /// BaseUrl/&lt;document_id&gt;, and the handler decides each answer from the path ("/doc-1").
    /// </summary>
    internal sealed class StorageServer : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly Func<string, StorageReply> _handler;
        private readonly List<string> _requests = new List<string>();
        private readonly List<TcpClient> _open = new List<TcpClient>();
        private volatile bool _stopped;

        public StorageServer(Func<string, StorageReply> handler)
        {
            _handler = handler;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            BaseUrl = "http://127.0.0.1:" + ((IPEndPoint)_listener.LocalEndpoint).Port;
            var thread = new Thread(AcceptLoop) { IsBackground = true, Name = "storage-server" };
            thread.Start();
        }

        public string BaseUrl { get; private set; }

        /// <summary>"GET /doc-1" for every request so far.</summary>
        public string[] Requests
        {
            get
            {
                lock (_requests)
                {
                    return _requests.ToArray();
                }
            }
        }

        private void AcceptLoop()
        {
            while (!_stopped)
            {
                TcpClient client;
                try
                {
                    client = _listener.AcceptTcpClient();
                }
                catch (Exception)
                {
                    return; // stopped
                }
                lock (_open)
                {
                    _open.Add(client);
                }
                var thread = new Thread(() => Serve(client)) { IsBackground = true };
                thread.Start();
            }
        }

        private void Serve(TcpClient client)
        {
            try
            {
                NetworkStream stream = client.GetStream();
                stream.ReadTimeout = 20000;
                var head = new List<byte>();
                int b;
                while ((b = stream.ReadByte()) >= 0)
                {
                    head.Add((byte)b);
                    int n = head.Count;
                    if (n >= 4 && head[n - 4] == '\r' && head[n - 3] == '\n' && head[n - 2] == '\r' && head[n - 1] == '\n')
                    {
                        break;
                    }
                }
                string firstLine = Encoding.ASCII.GetString(head.ToArray()).Split(new[] { "\r\n" }, StringSplitOptions.None)[0];
                string[] parts = firstLine.Split(' ');
                if (parts.Length < 2)
                {
                    return;
                }
                string method = parts[0];
                string path = parts[1];
                int query = path.IndexOf('?');
                if (query >= 0)
                {
                    path = path.Substring(0, query);
                }
                lock (_requests)
                {
                    _requests.Add(method + " " + path);
                }
                StorageReply reply = _handler(path);
                var answer = new StringBuilder();
                answer.Append("HTTP/1.1 ").Append(reply.Status).Append(' ').Append(reply.Reason).Append("\r\n");
                answer.Append("Content-Length: ").Append(reply.Body.Length).Append("\r\n");
                answer.Append("Connection: close\r\n");
                foreach (string header in reply.Headers)
                {
                    answer.Append(header).Append("\r\n");
                }
                answer.Append("\r\n");
                byte[] bytes = Encoding.ASCII.GetBytes(answer.ToString());
                stream.Write(bytes, 0, bytes.Length);
                if (method != "HEAD")
                {
                    stream.Write(reply.Body, 0, reply.Body.Length);
                }
                stream.Flush();
                client.Client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception)
            {
                // the client went away (e.g. an aborted download)
            }
            finally
            {
                client.Close();
                lock (_open)
                {
                    _open.Remove(client);
                }
            }
        }

        public void Dispose()
        {
            _stopped = true;
            _listener.Stop();
            lock (_open)
            {
                foreach (TcpClient client in _open)
                {
                    client.Close();
                }
                _open.Clear();
            }
        }
    }

    /// <summary>Plays the user and the browser on the simulator's selection page.</summary>
    internal static class Browser
    {
        /// <summary>GETs <paramref name="url"/> following redirects (to the library's callback listener).</summary>
        public static void Visit(string url)
        {
            var request = (HttpWebRequest)WebRequest.Create(url);
            request.AllowAutoRedirect = true;
            request.Proxy = null;
            request.Timeout = 20000;
            request.ReadWriteTimeout = 20000;
            try
            {
                using (var response = (HttpWebResponse)request.GetResponse())
                using (var body = response.GetResponseStream())
                {
                    body.CopyTo(Stream.Null);
                }
            }
            catch (WebException e)
            {
                var response = e.Response as HttpWebResponse;
                if (response == null)
                {
                    throw;
                }
                // A 4xx from the callback page still delivered the callback; report other failures.
                using (response)
                {
                    if ((int)response.StatusCode >= 500)
                    {
                        throw;
                    }
                }
            }
        }

        /// <summary>An openUrl that, like a real browser, loads the page (with ?auto=ACTION) in the background.</summary>
        public static Func<string, bool> Auto(string action, List<Exception> errors = null)
        {
            return url =>
            {
                string target = url + (url.IndexOf('?') >= 0 ? "&" : "?") + "auto=" + action;
                var thread = new Thread(() =>
                {
                    try
                    {
                        Visit(target);
                    }
                    catch (Exception e)
                    {
                        if (errors != null)
                        {
                            lock (errors)
                            {
                                errors.Add(e);
                            }
                        }
                    }
                });
                thread.IsBackground = true;
                thread.Start();
                return true;
            };
        }

        /// <summary>An openUrl that shows nothing (the user never answers).</summary>
        public static bool Ignore(string url)
        {
            return true;
        }
    }

    internal static class TempDirs
    {
        private static readonly string Root = Path.Combine(Path.GetTempPath(), "ocde-cs-tests-" + Process.GetCurrentProcess().Id);
        private static int s_counter;

        public static string Create(string name)
        {
            string dir = Path.Combine(Root, Interlocked.Increment(ref s_counter).ToString("D3") + "-" + name);
            Directory.CreateDirectory(dir);
            return dir;
        }

        public static void CleanUp()
        {
            try
            {
                if (Directory.Exists(Root))
                {
                    Directory.Delete(Root, true);
                }
            }
            catch (Exception)
            {
                // best effort
            }
        }
    }

    internal static class Program
    {
        private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(120);

        /// <summary>An informational line under the test's result.</summary>
        public static void Note(string text)
        {
            lock (Notes)
            {
                Notes.Add(text);
            }
        }

        private static readonly List<string> Notes = new List<string>();

        public static int Main(string[] args)
        {
            var tests = typeof(Program).Assembly.GetTypes()
                .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic))
                .Where(m => m.GetCustomAttributes(typeof(TestAttribute), false).Length > 0)
                .OrderBy(m => m.MetadataToken)
                .ToList();
            if (args.Length > 0)
            {
                tests = tests.Where(m => args.Any(a => m.Name.IndexOf(a, StringComparison.OrdinalIgnoreCase) >= 0)).ToList();
            }
            string version;
            try
            {
                version = OcdeLibrary.Version;
            }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException || e is TypeInitializationException)
            {
                Console.WriteLine("cannot load the native library opencde_documents (set LD_LIBRARY_PATH): " + e.Message);
                Console.WriteLine("0 passed, 1 failed");
                return 1;
            }
            Console.WriteLine("OpenCde.Documents tests: native library " + version + ", runtime " + Environment.Version + ", " + (IntPtr.Size * 8) + "-bit");
            int passed = 0;
            int failed = 0;
            foreach (MethodInfo test in tests)
            {
                var watch = Stopwatch.StartNew();
                Exception failure = null;
                var thread = new Thread(() =>
                {
                    try
                    {
                        test.Invoke(null, null);
                    }
                    catch (TargetInvocationException e)
                    {
                        failure = e.InnerException;
                    }
                    catch (Exception e)
                    {
                        failure = e;
                    }
                });
                thread.IsBackground = true;
                thread.Start();
                if (!thread.Join(TestTimeout))
                {
                    failure = new TimeoutException("test did not finish within " + TestTimeout.TotalSeconds + " s");
                }
                if (failure == null)
                {
                    passed++;
                    Console.WriteLine("PASS " + test.Name + " (" + watch.ElapsedMilliseconds + " ms)");
                }
                else
                {
                    failed++;
                    Console.WriteLine("FAIL " + test.Name + " (" + watch.ElapsedMilliseconds + " ms): " + failure.GetType().Name + ": " + failure.Message);
                    Console.WriteLine("     " + (failure.StackTrace ?? string.Empty).Replace("\n", "\n     "));
                }
                lock (Notes)
                {
                    foreach (string note in Notes)
                    {
                        Console.WriteLine("     note: " + note);
                    }
                    Notes.Clear();
                }
            }
            TempDirs.CleanUp();
            Console.WriteLine(passed + " passed, " + failed + " failed");
            Console.Out.Flush();
            // Exit even if a timed-out test left a thread behind.
            Environment.Exit(failed == 0 && passed > 0 ? 0 : 1);
            return 1;
        }
    }
}
