// Tests of discovery, sign-in (OAuth2 authorization code + PKCE), TokensChanged, refresh, stored
// refresh tokens and current-user, against the simulator's Foundation API and OAuth2 server. The
// test plays the browser: it GETs the authorization URL with &auto=allow (or deny), which the
// simulator answers with a 302 straight to the library's loopback redirect.

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
        private const string ClientId = "ocde-test-client";

        /// <summary>Records every TokensChanged event with the thread it was raised on.</summary>
        private sealed class TokenLog
        {
            public readonly List<TokensChangedEventArgs> Events = new List<TokensChangedEventArgs>();
            public readonly List<int> Threads = new List<int>();
            public readonly List<object> Senders = new List<object>();

            public void Handler(object sender, TokensChangedEventArgs e)
            {
                lock (Events)
                {
                    Events.Add(e);
                    Threads.Add(Thread.CurrentThread.ManagedThreadId);
                    Senders.Add(sender);
                }
            }

            public int Count
            {
                get
                {
                    lock (Events)
                    {
                        return Events.Count;
                    }
                }
            }

            public TokensChangedEventArgs Last
            {
                get
                {
                    lock (Events)
                    {
                        return Events[Events.Count - 1];
                    }
                }
            }
        }

        /// <summary>The simulator's CDE origin (where the Foundation API and the OAuth2 server are).</summary>
        private static string Origin(Simulator sim)
        {
            const string suffix = "/documents/1.0";
            Assert.True(sim.Url.EndsWith(suffix, StringComparison.Ordinal), "simulator URL " + sim.Url);
            return sim.Url.Substring(0, sim.Url.Length - suffix.Length);
        }

        private static CdeClient OAuthClient(Simulator sim, TokenLog log, string secret = null)
        {
            CdeClient cde = CdeClient.ForServer(Origin(sim));
            cde.UseOAuth(ClientId, secret);
            if (log != null)
            {
                cde.TokensChanged += log.Handler;
            }
            return cde;
        }

        /// <summary>
        /// Signs in with the test playing the browser (&amp;auto=allow or deny). The browser's own
        /// errors are notes, not failures: the outcome is what counts (see the note in
        /// DenyAndExpiryAreResults). A 30 s timeout bounds a browser that never reaches the
        /// redirect.
        /// </summary>
        private static SignInResult SignInWithBrowser(CdeClient cde, string action = "allow")
        {
            var browserErrors = new List<Exception>();
            try
            {
                return Await(cde.SignInAsync(Browser.Auto(action, browserErrors), TimeSpan.FromSeconds(30)));
            }
            finally
            {
                Thread.Sleep(50); // let the browser thread finish reading the listener's page
                lock (browserErrors)
                {
                    foreach (Exception e in browserErrors)
                    {
                        Program.Note("browser (auto=" + action + "): " + e.Message);
                    }
                }
            }
        }

        private static void AssertAbout(DateTimeOffset expected, DateTimeOffset? actual, TimeSpan tolerance, string what)
        {
            Assert.True(actual.HasValue, what + ": no value");
            Assert.True((actual.Value - expected).Duration() <= tolerance, what + ": expected about " + expected.ToString("o") + " but got " + actual.Value.ToString("o"));
        }

        // ------------------------------------------------------------------ the whole flow

        [Test]
        private static void SignInThenSelectAndDownloadWithTheIssuedToken()
        {
            using (var sim = new Simulator("--token", Token))
            {
                long signInsCreated = HandleCounters.SignInsCreated;
                long signInsReleased = HandleCounters.SignInsReleased;
                var log = new TokenLog();
                using (CdeClient cde = Await(CdeClient.ForServerAsync(Origin(sim))))
                {
                    Assert.Equal(Origin(sim), cde.ServerUrl, "ServerUrl");
                    Assert.True(cde.DocumentsApiUrl == null, "DocumentsApiUrl is not reported for a discovered client");
                    cde.UseOAuth(ClientId);
                    cde.TokensChanged += log.Handler;

                    // Without a token the CDE refuses (it was started with --token).
                    var refused = Assert.Throws<OcdeException>(() => cde.SelectDocuments(null, Browser.Ignore), "before signing in");
                    Assert.Equal(OcdeStatus.Unauthorized, refused.Status, "status before signing in");

                    int openUrlThread = 0;
                    Func<string, bool> browser = Browser.Auto("allow");
                    var watch = Stopwatch.StartNew();
                    SignInResult result = Await(cde.SignInAsync(url =>
                    {
                        openUrlThread = Thread.CurrentThread.ManagedThreadId;
                        return browser(url);
                    }));
                    Program.Note("signed in within " + watch.ElapsedMilliseconds + " ms");
                    Assert.Equal(SignInOutcome.SignedIn, result.Outcome, "outcome");
                    Assert.True(result.IsSignedIn, "IsSignedIn");
                    Assert.True(result.AuthorizationUrl.StartsWith(Origin(sim) + "/oauth/authorize?", StringComparison.Ordinal), "authorization URL " + result.AuthorizationUrl);
                    Assert.True(result.AuthorizationUrl.Contains("code_challenge_method=S256") && result.AuthorizationUrl.Contains("client_id=" + ClientId), "PKCE and client id in " + result.AuthorizationUrl);

                    Assert.Equal(1, log.Count, "TokensChanged raised once");
                    TokensChangedEventArgs tokens = log.Events[0];
                    Assert.True(!string.IsNullOrEmpty(tokens.AccessToken), "access token");
                    Assert.True(tokens.AccessToken != Token, "an issued token, not the simulator's fixed one");
                    Assert.True(!string.IsNullOrEmpty(tokens.RefreshToken), "refresh token");
                    AssertAbout(DateTimeOffset.UtcNow.AddSeconds(3600), tokens.ExpiresAt, TimeSpan.FromSeconds(120), "ExpiresAt");
                    Assert.True(ReferenceEquals(cde, log.Senders[0]), "sender is the client");
                    Assert.Equal(openUrlThread, log.Threads[0], "raised on the thread of the native call (the sign-in's worker)");
                    Assert.True(tokens.ToString().IndexOf(tokens.AccessToken, StringComparison.Ordinal) < 0
                        && tokens.ToString().IndexOf(tokens.RefreshToken, StringComparison.Ordinal) < 0, "ToString reveals no token: " + tokens);

                    // The issued token opens the CDE: select, then download every document.
                    using (SelectionResult selection = SelectAll(cde))
                    {
                        string dir = TempDirs.Create("signed-in");
                        foreach (CdeDocument d in selection.Documents)
                        {
                            string path = cde.DownloadDocument(d, dir);
                            Assert.BytesEqual(sim.Reference(d.DocumentId), File.ReadAllBytes(path), "bytes of " + d.DocumentId);
                        }
                        SelectionDownloadResult all = cde.DownloadSelection(selection, TempDirs.Create("signed-in-all"));
                        Assert.True(all.AllSucceeded, "DownloadSelection with the issued token: " + all);
                    }
                    Assert.Equal(1, log.Count, "no refresh was needed");
                }
                Assert.Equal(1L, HandleCounters.SignInsCreated - signInsCreated, "one native sign-in");
                Assert.Equal(1L, HandleCounters.SignInsReleased - signInsReleased, "and it was freed");
            }
        }

        [Test]
        private static void DenyAndExpiryAreResults()
        {
            using (var sim = new Simulator())
            {
                long signInsCreated = HandleCounters.SignInsCreated;
                long signInsReleased = HandleCounters.SignInsReleased;
                var log = new TokenLog();
                using (CdeClient cde = OAuthClient(sim, log))
                {
                    // The browser's page is not checked: in src/listener.rs as of e8fa2d6 the
                    // listener wakes the poll before writing its page, the poll ends at once on
                    // Deny, and stopping the listener shut the connection down in both directions,
                    // so about 1 browser in 15 got a reset instead of the page. The outcome is
                    // right either way.
                    SignInResult denied = SignInWithBrowser(cde, "deny");
                    Assert.Equal(SignInOutcome.Denied, denied.Outcome, "outcome of Deny");
                    Assert.True(!denied.IsSignedIn, "not signed in");
                    Assert.Equal(0, log.Count, "no tokens after Deny");
                    var e = Assert.Throws<OcdeException>(() => cde.GetCurrentUser(), "current user after Deny");
                    Assert.Equal(OcdeStatus.Unauthorized, e.Status, "status");

                    var watch = Stopwatch.StartNew();
                    SignInResult expired = cde.SignIn(Browser.Ignore, TimeSpan.FromSeconds(1));
                    Assert.Equal(SignInOutcome.Expired, expired.Outcome, "outcome when nobody answers");
                    Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9) && watch.Elapsed < TimeSpan.FromSeconds(15), "expired after " + watch.Elapsed);

                    Assert.Equal(SignInOutcome.SignedIn, SignInWithBrowser(cde).Outcome, "then signing in works");
                    Assert.Equal("user-1", cde.GetCurrentUser().Id, "signed in");
                }
                Assert.Equal(3L, HandleCounters.SignInsCreated - signInsCreated, "sign-ins created");
                Assert.Equal(3L, HandleCounters.SignInsReleased - signInsReleased, "every sign-in freed");
            }
        }

        [Test]
        private static void CancellingTheSignInWait()
        {
            using (var sim = new Simulator())
            {
                long signInsCreated = HandleCounters.SignInsCreated;
                long signInsReleased = HandleCounters.SignInsReleased;
                var log = new TokenLog();
                using (CdeClient cde = OAuthClient(sim, log))
                {
                    var opened = new ManualResetEventSlim();
                    var cts = new CancellationTokenSource();
                    Task<SignInResult> task = cde.SignInAsync(url => { opened.Set(); return true; }, null, cts.Token);
                    Assert.True(opened.Wait(Long), "sign-in page opened");
                    Thread.Sleep(500); // well inside a native poll (slices are 5 s)
                    var watch = Stopwatch.StartNew();
                    cts.Cancel();
                    Assert.Throws<OperationCanceledException>(() => task.Wait(Long), "cancelled sign-in");
                    Assert.True(task.IsCanceled, "task state is Canceled, status " + task.Status);
                    Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), "aborted at once, took " + watch.Elapsed);
                    Assert.Equal(1L, HandleCounters.SignInsCreated - signInsCreated, "one sign-in");
                    Assert.Equal(1L, HandleCounters.SignInsReleased - signInsReleased, "and it was freed");

                    // Synchronous form, cancelled from another thread.
                    var cts2 = new CancellationTokenSource();
                    cts2.CancelAfter(300);
                    Assert.Throws<OperationCanceledException>(() => cde.SignIn(Browser.Ignore, null, cts2.Token), "sync cancelled sign-in");

                    // Already cancelled, or cancelled while the page is being opened: nothing is left.
                    var cancelled = new CancellationTokenSource();
                    cancelled.Cancel();
                    Task<SignInResult> never = cde.SignInAsync(Browser.Ignore, null, cancelled.Token);
                    Assert.Throws<OperationCanceledException>(() => never.Wait(Long), "already cancelled");
                    var cts3 = new CancellationTokenSource();
                    long before = HandleCounters.SignInsCreated;
                    Assert.Throws<OperationCanceledException>(() => cde.SignIn(url => { cts3.Cancel(); return true; }, null, cts3.Token), "cancelled in openUrl");
                    Assert.Equal(before, HandleCounters.SignInsCreated, "no sign-in was created");

                    // openUrl declining or throwing.
                    var declined = Assert.Throws<OcdeException>(() => Await(cde.SignInAsync(url => false)), "declined");
                    Assert.Equal(OcdeStatus.Aborted, declined.Status, "status");
                    var boom = new InvalidOperationException("boom from openUrl");
                    var thrown = Assert.Throws<InvalidOperationException>(() => cde.SignIn(url => { throw boom; }), "throwing openUrl");
                    Assert.True(ReferenceEquals(boom, thrown), "the very exception reaches the caller");

                    Assert.Equal(0, log.Count, "no tokens so far");
                    Assert.Equal(SignInOutcome.SignedIn, SignInWithBrowser(cde).Outcome, "the client is still usable");
                    Assert.Equal(1, log.Count, "tokens once");
                    Assert.Equal("Ada Lovelace", cde.GetCurrentUser().Name, "signed in");
                }
                Assert.Equal(HandleCounters.SignInsCreated - signInsCreated, HandleCounters.SignInsReleased - signInsReleased, "every sign-in freed");
            }
        }

        // ------------------------------------------------------------------ refresh

        [Test]
        private static void ExpiredAccessTokenIsRefreshedTransparently()
        {
            using (var sim = new Simulator("--token", Token, "--access-token-lifetime", "2"))
            {
                var log = new TokenLog();
                using (CdeClient cde = OAuthClient(sim, log))
                {
                    Assert.Equal(SignInOutcome.SignedIn, cde.SignIn(Browser.Auto("allow")).Outcome, "signed in");
                    Assert.Equal(1, log.Count, "tokens of the sign-in");
                    TokensChangedEventArgs first = log.Events[0];
                    AssertAbout(DateTimeOffset.UtcNow.AddSeconds(2), first.ExpiresAt, TimeSpan.FromSeconds(30), "ExpiresAt of a 2 s token");
                    int me = Thread.CurrentThread.ManagedThreadId;
                    Assert.Equal(me, log.Threads[0], "the synchronous SignIn raises TokensChanged on the calling thread");

                    using (SelectionResult selection = SelectAll(cde))
                    {
                        // A single download on this thread: the token expired meanwhile.
                        int before = log.Count;
                        Thread.Sleep(2500);
                        string path = cde.DownloadDocument(Doc(selection, "doc-1"), TempDirs.Create("refresh-one"));
                        Assert.BytesEqual(sim.Reference("doc-1"), File.ReadAllBytes(path), "download after the access token expired");
                        Assert.True(log.Count > before, "TokensChanged raised again by the refresh (" + log.Count + " events)");
                        Assert.Equal(me, log.Threads[log.Count - 1], "raised on the thread of the download call");
                        TokensChangedEventArgs refreshed = log.Last;
                        Assert.True(!string.IsNullOrEmpty(refreshed.AccessToken) && refreshed.AccessToken != first.AccessToken, "a new access token");
                        Assert.True(!string.IsNullOrEmpty(refreshed.RefreshToken) && refreshed.RefreshToken != first.RefreshToken, "the refresh token was rotated");

                        // The whole selection: transfers on the library's threads, events on this one.
                        before = log.Count;
                        Thread.Sleep(2500);
                        string dir = TempDirs.Create("refresh-all");
                        SelectionDownloadResult all = cde.DownloadSelection(selection, dir);
                        CheckAllWritten(sim, selection, all, dir, "DownloadSelection after the access token expired");
                        Assert.True(log.Count > before, "TokensChanged raised by the refresh inside DownloadSelection");
                        for (int i = before; i < log.Count; i++)
                        {
                            Assert.Equal(me, log.Threads[i], "event " + i + " on the thread calling DownloadSelection");
                        }
                        Program.Note(log.Count + " token sets in all");
                    }
                }
            }
        }

        [Test]
        private static void StoredRefreshTokenWorksWithoutABrowser()
        {
            using (var sim = new Simulator("--token", Token))
            {
                string stored;
                var first = new TokenLog();
                using (CdeClient cde = OAuthClient(sim, first))
                {
                    Assert.Equal(SignInOutcome.SignedIn, SignInWithBrowser(cde).Outcome, "first start-up: sign in");
                    stored = first.Last.RefreshToken;
                    Assert.True(!string.IsNullOrEmpty(stored), "a refresh token to store");
                }

                // Next start-up: the stored refresh token, no browser at all.
                var second = new TokenLog();
                using (CdeClient cde = OAuthClient(sim, second))
                {
                    cde.RefreshToken = stored;
                    CurrentUser user = Await(cde.GetCurrentUserAsync());
                    Assert.Equal("user-1", user.Id, "current user with the stored refresh token");
                    Assert.Equal(1, second.Count, "the refresh raised TokensChanged");
                    Assert.True(!string.IsNullOrEmpty(second.Last.AccessToken), "new access token");
                    Assert.True(!string.IsNullOrEmpty(second.Last.RefreshToken) && second.Last.RefreshToken != stored, "a rotated refresh token to store instead");
                    using (SelectionResult selection = SelectAll(cde))
                    {
                        string path = cde.DownloadDocument(Doc(selection, "doc-3"), TempDirs.Create("stored-refresh"));
                        Assert.BytesEqual(sim.Reference("doc-3"), File.ReadAllBytes(path), "download");
                    }
                    Assert.Equal(1, second.Count, "no further refresh");
                }

                // The stored token was rotated away: a clear failure that says to sign in again.
                using (CdeClient cde = OAuthClient(sim, null))
                {
                    cde.RefreshToken = stored;
                    var e = Assert.Throws<OcdeException>(() => cde.GetCurrentUser(), "used refresh token");
                    Assert.Equal(OcdeStatus.Unauthorized, e.Status, "status");
                    Assert.True(e.Message.Contains("sign in again"), "message: " + e.Message);
                    Assert.True(e.Message.IndexOf(stored, StringComparison.Ordinal) < 0, "the message never contains the token");

                    var empty = Assert.Throws<OcdeException>(() => cde.RefreshToken = "", "empty refresh token");
                    Assert.Equal(OcdeStatus.InvalidArgument, empty.Status, "status");
                    cde.RefreshToken = null; // forgets it
                    Assert.Throws<ArgumentException>(() => cde.RefreshToken = "half \uD800", "lone surrogate");
                }
            }
        }

        // ------------------------------------------------------------------ current user

        [Test]
        private static void CurrentUserIsTheSignedInUser()
        {
            using (var sim = new Simulator())
            {
                using (CdeClient cde = OAuthClient(sim, null))
                {
                    var notYet = Assert.Throws<OcdeException>(() => Await(cde.GetCurrentUserAsync()), "before signing in");
                    Assert.Equal(OcdeStatus.Unauthorized, notYet.Status, "status");
                    Assert.Equal(401, notYet.HttpStatus, "http status");

                    Assert.Equal(SignInOutcome.SignedIn, SignInWithBrowser(cde).Outcome, "signed in");
                    CurrentUser user = Await(cde.GetCurrentUserAsync());
                    Assert.Equal("user-1", user.Id, "id");
                    Assert.Equal("Ada Lovelace", user.Name, "name");
                    Assert.Equal("Ada Lovelace (user-1)", user.ToString(), "ToString");
                    Assert.Equal("user-1", cde.GetCurrentUser().Id, "synchronous form");

                    var cancelled = new CancellationTokenSource();
                    cancelled.Cancel();
                    Task<CurrentUser> task = cde.GetCurrentUserAsync(cancelled.Token);
                    Assert.Throws<OperationCanceledException>(() => task.Wait(Long), "already cancelled");
                    Assert.True(task.IsCanceled, "canceled task");
                }

                // A client made from the Documents API URL knows no Foundation API.
                using (var plain = new CdeClient(sim.Url))
                {
                    var e = Assert.Throws<OcdeException>(() => plain.GetCurrentUser(), "client without discovery");
                    Assert.Equal(OcdeStatus.Protocol, e.Status, "status");
                    Assert.True(e.Message.Contains("server URL"), "message: " + e.Message);
                }
            }
        }

        // ------------------------------------------------------------------ discovery

        [Test]
        private static void DiscoveryAndItsVariants()
        {
            long serversCreated = HandleCounters.ServersCreated;
            long serversReleased = HandleCounters.ServersReleased;
            using (var sim = new Simulator())
            {
                string origin = Origin(sim);
                CdeServerInfo info = Await(CdeServerInfo.DiscoverAsync(origin));
                Assert.Equal(origin, info.ServerUrl, "ServerUrl");
                Assert.Equal(sim.Url, info.DocumentsApiUrl, "DocumentsApiUrl");
                Assert.Equal(origin + "/oauth/authorize", info.AuthUrl, "AuthUrl");
                Assert.Equal(origin + "/oauth/token", info.TokenUrl, "TokenUrl");
                Assert.True(info.PkceRequired, "PkceRequired");
                Assert.Equal("S256", info.CodeChallengeMethod, "CodeChallengeMethod");
                Assert.True(info.HttpBasicSupported, "HttpBasicSupported");
                Assert.True(info.SignInSupported, "SignInSupported");

                // A client made from the Documents API URL cannot sign in; neither can one without a client id.
                using (var plain = new CdeClient(sim.Url))
                {
                    plain.UseOAuth(ClientId);
                    var e = Assert.Throws<OcdeException>(() => plain.SignIn(Browser.Auto("allow")), "client without discovery");
                    Assert.Equal(OcdeStatus.Protocol, e.Status, "status");
                    Assert.True(e.Message.Contains("server URL"), "message: " + e.Message);
                }
                using (CdeClient noId = CdeClient.ForServer(origin))
                {
                    var e = Assert.Throws<OcdeException>(() => Await(noId.SignInAsync(Browser.Auto("allow"))), "no client id");
                    Assert.Equal(OcdeStatus.InvalidArgument, e.Status, "status");
                    Assert.True(e.Message.Contains("client id"), "message: " + e.Message);
                }
            }

            using (var sim = new Simulator("--omit-api-base-url"))
            {
                CdeServerInfo info = CdeServerInfo.Discover(Origin(sim));
                Assert.Equal(Origin(sim) + "/documents/1.0", info.DocumentsApiUrl, "the default Documents API URL");
                Assert.True(info.SignInSupported, "sign-in still offered");
                using (CdeClient cde = CdeClient.ForServer(Origin(sim)))
                using (SelectionResult selection = SelectAll(cde))
                {
                    Assert.Equal(3, selection.Documents.Count, "the client uses the default URL");
                }
            }

            using (var sim = new Simulator("--no-auth-endpoint"))
            {
                CdeServerInfo info = CdeServerInfo.Discover(Origin(sim));
                Assert.Equal(sim.Url, info.DocumentsApiUrl, "DocumentsApiUrl");
                Assert.True(info.AuthUrl == null && info.TokenUrl == null && info.CodeChallengeMethod == null, "no OAuth2 endpoints");
                Assert.True(!info.SignInSupported && !info.PkceRequired && !info.HttpBasicSupported, "no sign-in");
                using (CdeClient cde = CdeClient.ForServer(Origin(sim)))
                {
                    cde.UseOAuth(ClientId);
                    bool opened = false;
                    var e = Assert.Throws<OcdeException>(() => Await(cde.SignInAsync(url => opened = true)), "sign-in without an auth endpoint");
                    Assert.Equal(OcdeStatus.Protocol, e.Status, "status");
                    Assert.True(e.Message.Contains("no OAuth2 sign-in"), "a clear message: " + e.Message);
                    Assert.True(!opened, "no page was opened");
                    using (SelectionResult selection = SelectAll(cde))
                    {
                        Assert.Equal(3, selection.Documents.Count, "the client still works without sign-in");
                    }
                }
            }

            using (var sim = new Simulator("--oauth-basic", "refused"))
            {
                Assert.True(!CdeServerInfo.Discover(Origin(sim)).HttpBasicSupported, "HttpBasicSupported with --oauth-basic refused");
            }

            // Failures.
            Assert.Throws<ArgumentNullException>(() => CdeServerInfo.Discover(null), "null URL");
            Assert.Throws<ArgumentNullException>(() => CdeClient.ForServerAsync(null), "null URL");
            var malformed = Assert.Throws<OcdeException>(() => CdeServerInfo.Discover("not a url"), "malformed URL");
            Assert.Equal(OcdeStatus.InvalidArgument, malformed.Status, "status");
            using (var nothing = new StorageServer(path => StorageReply.NotFound()))
            {
                var e = Assert.Throws<OcdeException>(() => Await(CdeServerInfo.DiscoverAsync(nothing.BaseUrl)), "no Foundation API");
                Program.Note("discovery of a server without a Foundation API: " + e.StatusName + ": " + e.Message);
                Assert.True(e.Message.Length > 0, "message");
                var e2 = Assert.Throws<OcdeException>(() => CdeClient.ForServer(nothing.BaseUrl), "ForServer without a Foundation API");
                Assert.Equal(e.Status, e2.Status, "same failure");
            }
            Assert.Equal(HandleCounters.ServersCreated - serversCreated, HandleCounters.ServersReleased - serversReleased, "every server description freed");
        }

        [Test]
        private static void DiscoveryCancellationEndsTheWaitAtOnce()
        {
            var release = new ManualResetEventSlim();
            int requests = 0;
            using (var slow = new StorageServer(path =>
            {
                Interlocked.Increment(ref requests);
                release.Wait(TimeSpan.FromSeconds(20));
                return StorageReply.NotFound();
            }))
            {
                try
                {
                    long clientsCreated = HandleCounters.ClientsCreated;
                    var cts = new CancellationTokenSource();
                    Task<CdeServerInfo> discover = CdeServerInfo.DiscoverAsync(slow.BaseUrl, cts.Token);
                    WaitUntil(() => Volatile.Read(ref requests) >= 1, Long, "the discovery request");
                    var watch = Stopwatch.StartNew();
                    cts.Cancel();
                    Assert.Throws<OperationCanceledException>(() => discover.Wait(Long), "cancelled discovery");
                    Assert.True(discover.IsCanceled, "task state " + discover.Status);

                    var cts2 = new CancellationTokenSource();
                    Task<CdeClient> forServer = CdeClient.ForServerAsync(slow.BaseUrl, cts2.Token);
                    WaitUntil(() => Volatile.Read(ref requests) >= 2, Long, "the second discovery request");
                    cts2.Cancel();
                    Assert.Throws<OperationCanceledException>(() => forServer.Wait(Long), "cancelled ForServerAsync");
                    Assert.True(forServer.IsCanceled, "task state " + forServer.Status);
                    Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), "both ended at once, took " + watch.Elapsed);
                    Assert.Equal(clientsCreated, HandleCounters.ClientsCreated, "no client");

                    var already = new CancellationTokenSource();
                    already.Cancel();
                    Assert.True(CdeClient.ForServerAsync(slow.BaseUrl, already.Token).IsCanceled, "already cancelled: nothing started");
                }
                finally
                {
                    release.Set(); // the abandoned requests finish in the background
                }
            }
        }

        // ------------------------------------------------------------------ client authentication and token answers

        [Test]
        private static void ConfidentialClientsAndTokenAnswerVariants()
        {
            const string secret = "s3cret/with+chars=";
            foreach (string mode in new[] { "either", "required", "refused" })
            {
                using (var sim = new Simulator("--oauth-client-secret", secret, "--oauth-basic", mode))
                {
                    var log = new TokenLog();
                    using (CdeClient cde = OAuthClient(sim, log, secret))
                    {
                        Assert.Equal(SignInOutcome.SignedIn, SignInWithBrowser(cde).Outcome, "confidential client, --oauth-basic " + mode);
                        Assert.Equal(1, log.Count, "tokens, --oauth-basic " + mode);
                    }
                    if (mode == "either")
                    {
                        using (CdeClient cde = OAuthClient(sim, log, "wrong-secret"))
                        {
                            var e = Assert.Throws<OcdeException>(() => SignInWithBrowser(cde), "wrong client secret");
                            Assert.Equal(OcdeStatus.Unauthorized, e.Status, "status");
                            Assert.True(e.Message.IndexOf("wrong-secret", StringComparison.Ordinal) < 0, "the message never contains the secret: " + e.Message);
                        }
                    }
                }
            }

            using (var sim = new Simulator("--token-status-201"))
            {
                var log = new TokenLog();
                using (CdeClient cde = OAuthClient(sim, log))
                {
                    Assert.Equal(SignInOutcome.SignedIn, SignInWithBrowser(cde).Outcome, "token endpoint answering 201");
                    Assert.Equal(1, log.Count, "tokens");
                }
            }

            using (var sim = new Simulator("--expires-in-as-string"))
            {
                var log = new TokenLog();
                using (CdeClient cde = OAuthClient(sim, log))
                {
                    Assert.Equal(SignInOutcome.SignedIn, SignInWithBrowser(cde).Outcome, "expires_in as a string");
                    AssertAbout(DateTimeOffset.UtcNow.AddSeconds(3600), log.Last.ExpiresAt, TimeSpan.FromSeconds(120), "ExpiresAt from a string");
                }
            }
        }

        // ------------------------------------------------------------------ handlers, arguments, disposal

        [Test]
        private static void TokensChangedHandlerExceptionsAndReentry()
        {
            using (var sim = new Simulator())
            using (CdeClient cde = OAuthClient(sim, null))
            {
                var boom = new IOException("secure store failed");
                int secondCalls = 0;
                EventHandler<TokensChangedEventArgs> thrower = (s, e) => { throw boom; };
                EventHandler<TokensChangedEventArgs> counter = (s, e) => Interlocked.Increment(ref secondCalls);
                cde.TokensChanged += thrower;
                cde.TokensChanged += counter;
                var thrown = Assert.Throws<IOException>(() => SignInWithBrowser(cde), "throwing TokensChanged handler");
                Assert.True(ReferenceEquals(boom, thrown), "the very exception reaches the caller");
                Assert.Equal(1, secondCalls, "the other handler still ran");
                Assert.Equal("user-1", cde.GetCurrentUser().Id, "signed in all the same");
                cde.TokensChanged -= thrower;

                // Calling the library from the handler is refused.
                cde.TokensChanged += (s, e) => cde.GetCurrentUser();
                var reentry = Assert.Throws<InvalidOperationException>(() => cde.SignIn(Browser.Auto("allow")), "re-entry");
                Assert.True(reentry.Message.Contains("inside"), reentry.Message);
                Assert.Equal(2, secondCalls, "handlers ran for the second sign-in");

                Assert.Throws<ArgumentNullException>(() => cde.UseOAuth(null), "null client id");
                var empty = Assert.Throws<OcdeException>(() => cde.UseOAuth(""), "empty client id");
                Assert.Equal(OcdeStatus.InvalidArgument, empty.Status, "status");
                Assert.Throws<ArgumentOutOfRangeException>(() => cde.SignInAsync(Browser.Ignore, TimeSpan.Zero), "zero timeout");
                Assert.Throws<ArgumentOutOfRangeException>(() => cde.SignIn(Browser.Ignore, TimeSpan.FromSeconds(-1)), "negative timeout");

                cde.Dispose();
                Assert.Throws<ObjectDisposedException>(() => cde.UseOAuth(ClientId), "UseOAuth");
                Assert.Throws<ObjectDisposedException>(() => cde.RefreshToken = "x", "RefreshToken");
                Assert.Throws<ObjectDisposedException>(() => cde.SignInAsync(Browser.Ignore), "SignInAsync");
                Assert.Throws<ObjectDisposedException>(() => cde.SignIn(Browser.Ignore), "SignIn");
                Assert.Throws<ObjectDisposedException>(() => cde.GetCurrentUserAsync(), "GetCurrentUserAsync");
                Assert.Throws<ObjectDisposedException>(() => cde.GetCurrentUser(), "GetCurrentUser");
            }
        }

        [Test]
        private static void TokenRelayOfACollectedClientIsHarmless()
        {
            // The native token observer may outlive the client handle (selections share its state);
            // its user_data is a registry key, so a stale key must find nothing.
            IntPtr key = CreateAndDropRelay();
            WaitUntil(
                () =>
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    return TokenRelay.Find(key) == null;
                },
                TimeSpan.FromSeconds(20),
                "the relay of a dropped client to be collected");
            Assert.True(TokenRelay.Find(IntPtr.Zero) == null, "key 0 is never used");
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static IntPtr CreateAndDropRelay()
        {
            var relay = new TokenRelay(new object());
            relay.Add((s, e) => { });
            Assert.True(ReferenceEquals(relay, TokenRelay.Find(relay.Key)), "registered");
            return relay.Key;
        }
    }
}
