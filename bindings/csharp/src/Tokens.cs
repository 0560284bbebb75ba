using System;

namespace OpenCde.Documents
{
    /// <summary>
    /// A new token set obtained by the library: after <see cref="CdeClient.SignInAsync"/>, and after
    /// every refresh (including the first request after <see cref="CdeClient.RefreshToken"/> was set).
    /// Store <see cref="RefreshToken"/> in your secure store: the server may rotate it on every
    /// refresh, making the previous one useless.
    /// </summary>
    public sealed class TokensChangedEventArgs : EventArgs
    {
        internal TokensChangedEventArgs(string accessToken, string refreshToken, DateTimeOffset? expiresAt)
        {
            AccessToken = accessToken;
            RefreshToken = refreshToken;
            ExpiresAt = expiresAt;
        }

        /// <summary>The new access token (already in use by the client).</summary>
        public string AccessToken { get; private set; }

        /// <summary>The refresh token now in force, or null when the server never gave one.</summary>
        public string RefreshToken { get; private set; }

        /// <summary>When the access token expires, or null when the server did not say.</summary>
        public DateTimeOffset? ExpiresAt { get; private set; }

        /// <summary>Describes the event without revealing either token.</summary>
        public override string ToString()
        {
            return "TokensChanged(access token: " + (AccessToken == null ? "none" : AccessToken.Length + " chars")
                + ", refresh token: " + (RefreshToken == null ? "none" : "present")
                + ", expires: " + (ExpiresAt.HasValue ? ExpiresAt.Value.ToString("o") : "unknown") + ")";
        }

        /// <summary><c>expires_at_unix</c> to a time; 0 (unknown) or out of range gives null.</summary>
        internal static DateTimeOffset? FromUnix(long seconds)
        {
            // DateTimeOffset.MinValue/MaxValue as Unix seconds.
            if (seconds == 0 || seconds < -62135596800L || seconds > 253402300799L)
            {
                return null;
            }
            return DateTimeOffset.FromUnixTimeSeconds(seconds);
        }
    }

    /// <summary>How a sign-in ended when it did not fail.</summary>
    public enum SignInOutcome
    {
        /// <summary>The user signed in; the client now holds the tokens (see <see cref="CdeClient.TokensChanged"/>).</summary>
        SignedIn = 0,
        /// <summary>The user pressed Deny on the server's sign-in page.</summary>
        Denied = 2,
        /// <summary>The browser did not come back within the sign-in's timeout.</summary>
        Expired = 3,
    }

    /// <summary>The result of <see cref="CdeClient.SignInAsync"/>.</summary>
    public sealed class SignInResult
    {
        internal SignInResult(SignInOutcome outcome, string authorizationUrl)
        {
            Outcome = outcome;
            AuthorizationUrl = authorizationUrl;
        }

        /// <summary>Whether the user signed in, denied, or the wait expired.</summary>
        public SignInOutcome Outcome { get; private set; }

        /// <summary>True when <see cref="Outcome"/> is <see cref="SignInOutcome.SignedIn"/>.</summary>
        public bool IsSignedIn
        {
            get { return Outcome == SignInOutcome.SignedIn; }
        }

        /// <summary>The authorization page the user was sent to (it holds no secret).</summary>
        public string AuthorizationUrl { get; private set; }

        /// <summary>The outcome's name.</summary>
        public override string ToString()
        {
            return Outcome.ToString();
        }
    }

    /// <summary>Who is signed in, from the Foundation API's <c>current-user</c>.</summary>
    public sealed class CurrentUser
    {
        internal CurrentUser(string id, string name)
        {
            Id = id;
            Name = name;
        }

        /// <summary>The user's id at the server.</summary>
        public string Id { get; private set; }

        /// <summary>The user's display name.</summary>
        public string Name { get; private set; }

        /// <summary>"Name (Id)".</summary>
        public override string ToString()
        {
            return Name + " (" + Id + ")";
        }
    }
}
