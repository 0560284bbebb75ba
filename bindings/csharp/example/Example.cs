// Lets the user pick documents in a CDE and downloads them (up to 4 at once), with a console progress
// display. Exits 0 when every document was saved, 1 when any failed (the others are still saved).
//
//   OpenCde.Documents.Example <documents_api_url> <destination_folder> [--token T] [--auto-select]
//
// The token may also come from the OCDE_ACCESS_TOKEN environment variable. --auto-select is for the
// cde-simulator only: instead of opening a browser it loads the selection page with ?auto=all, which
// selects every document at once. Ctrl+C cancels cleanly (no partial file is left).

using System;
using System.IO;
using System.Net;
using System.Threading;
using OpenCde.Documents;

internal static class Example
{
    private static int Main(string[] args)
    {
        string url = null;
        string folder = null;
        string token = Environment.GetEnvironmentVariable("OCDE_ACCESS_TOKEN");
        bool autoSelect = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--token" && i + 1 < args.Length)
            {
                token = args[++i];
            }
            else if (args[i] == "--auto-select")
            {
                autoSelect = true;
            }
            else if (url == null)
            {
                url = args[i];
            }
            else if (folder == null)
            {
                folder = args[i];
            }
            else
            {
                url = null; // unexpected argument: print usage
                break;
            }
        }
        if (url == null || folder == null)
        {
            Console.Error.WriteLine("usage: OpenCde.Documents.Example <documents_api_url> <destination_folder> [--token T] [--auto-select]");
            return 2;
        }

        using (var cts = new CancellationTokenSource())
        {
            Console.CancelKeyPress += (sender, e) =>
            {
                e.Cancel = true; // let the download stop and clean up instead of killing the process
                cts.Cancel();
            };
            try
            {
                return Run(url, folder, token, autoSelect, cts.Token);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine();
                Console.Error.WriteLine("Cancelled.");
                return 130;
            }
            catch (OcdeException e)
            {
                Console.Error.WriteLine();
                Console.Error.WriteLine("Failed (" + e.StatusName + (e.HttpStatus != 0 ? ", HTTP " + e.HttpStatus : string.Empty) + "): " + e.Message);
                return 1;
            }
        }
    }

    private static int Run(string url, string folder, string token, bool autoSelect, CancellationToken ct)
    {
        Directory.CreateDirectory(folder);
        Console.WriteLine("opencde_documents " + OcdeLibrary.Version);
        using (var cde = new CdeClient(url) { AccessToken = token })
        {
            cde.Log = (level, message) => Console.Error.WriteLine("[" + level + "] " + message);

            Func<string, bool> openUrl;
            if (autoSelect)
            {
                openUrl = PlayTheBrowser;
            }
            else
            {
                openUrl = page =>
                {
                    Console.WriteLine("Choose the documents in your browser: " + page);
                    if (!OcdeLibrary.OpenSystemBrowser(page))
                    {
                        Console.WriteLine("(No browser could be started: open the link above yourself.)");
                    }
                    return true;
                };
            }

            Console.WriteLine("Waiting for the selection (Ctrl+C to stop)...");
            using (SelectionResult selection = cde.SelectDocumentsAsync(null, openUrl, ct).GetAwaiter().GetResult())
            {
                if (!selection.IsSelected)
                {
                    Console.WriteLine(selection.Outcome == SelectionOutcome.UserCancelled
                        ? "The selection was cancelled in the CDE."
                        : "No selection arrived in time.");
                    return 3;
                }
                Console.WriteLine(selection.Documents.Count + " document(s) selected.");
                // Up to 4 at once; the progress shows all documents together.
                var display = new ConsoleProgress(selection.Documents.Count + " document(s)");
                SelectionDownloadResult downloaded = cde.DownloadSelectionAsync(selection, folder, 4, display, ct).GetAwaiter().GetResult();
                display.Finish();
                // A document that failed is a result, not an exception: the others are saved.
                foreach (DocumentDownloadResult d in downloaded.Documents)
                {
                    Console.WriteLine(d.Succeeded
                        ? "  " + d.Document.FileName + " -> " + d.Path
                        : "  " + d.Document.FileName + ": FAILED (" + OcdeLibrary.GetStatusName(d.Status) + "): " + d.Error);
                }
                return downloaded.AllSucceeded ? 0 : 1;
            }
        }
    }

    /// <summary>For the cde-simulator: load its page with ?auto=all in the background, like a browser.</summary>
    private static bool PlayTheBrowser(string page)
    {
        string target = page + (page.IndexOf('?') >= 0 ? "&" : "?") + "auto=all";
        var thread = new Thread(() =>
        {
            try
            {
                var request = (HttpWebRequest)WebRequest.Create(target);
                request.Proxy = null;
                using (var response = request.GetResponse())
                {
                    response.GetResponseStream().CopyTo(Stream.Null);
                }
            }
            catch (WebException e)
            {
                Console.Error.WriteLine("auto-select: " + e.Message);
            }
        });
        thread.IsBackground = true;
        thread.Start();
        return true;
    }

    /// <summary>
    /// Draws "name [#####.....]  45%  0.7 / 1.5 MB" on one line, at most ten times a second (the
    /// library reports after every chunk, often thousands of times per file). For a whole
    /// selection it shows the bytes of all documents together.
    /// </summary>
    private sealed class ConsoleProgress : IProgress<DownloadProgress>, IProgress<SelectionDownloadProgress>
    {
        private readonly string _name;
        private readonly bool _redirected;
        private long _lastDraw = -1;
        private int _lastQuarter = -1;
        private DownloadProgress _last;

        public ConsoleProgress(string name)
        {
            _name = name;
            _redirected = Console.IsOutputRedirected;
        }

        public void Report(DownloadProgress value)
        {
            _last = value;
            if (_redirected)
            {
                // In a log file, one line per quarter.
                int quarter = value.Fraction.HasValue ? (int)(value.Fraction.Value * 4) : 0;
                if (quarter != _lastQuarter)
                {
                    _lastQuarter = quarter;
                    Console.WriteLine(Line(value));
                }
                return;
            }
            long now = Environment.TickCount;
            if (_lastDraw >= 0 && now - _lastDraw < 100)
            {
                return;
            }
            _lastDraw = now;
            Console.Write("\r" + Line(value));
        }

        public void Report(SelectionDownloadProgress value)
        {
            Report(value.OverallProgress);
        }

        public void Finish()
        {
            if (!_redirected)
            {
                Console.Write("\r" + Line(_last));
                Console.WriteLine();
            }
        }

        private string Line(DownloadProgress p)
        {
            const int width = 30;
            if (!p.Fraction.HasValue)
            {
                return "  " + _name + "  " + Mb(p.BytesReceived) + " MB";
            }
            int filled = (int)(p.Fraction.Value * width);
            return "  " + _name + "  [" + new string('#', filled) + new string('.', width - filled) + "] "
                + ((int)(p.Fraction.Value * 100)).ToString().PadLeft(3) + "%  "
                + Mb(p.BytesReceived) + " / " + Mb(p.TotalBytes) + " MB";
        }

        private static string Mb(long bytes)
        {
            return (bytes / 1048576.0).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
