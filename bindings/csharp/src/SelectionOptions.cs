using System;
using System.Collections.Generic;

namespace OpenCde.Documents
{
    /// <summary>Options of a document selection (<c>OcdeSelectionOptions</c>).</summary>
    public sealed class SelectionOptions
    {
        private TimeSpan? _callbackExpiresIn;
        private int _callbackPort;

        /// <summary>
        /// How long to wait for the user's choice (sent as <c>callback.expires_in</c>, whole
        /// seconds, rounded up); null: the library's default (one hour).
        /// </summary>
        public TimeSpan? CallbackExpiresIn
        {
            get { return _callbackExpiresIn; }
            set
            {
                if (value.HasValue && (value.Value <= TimeSpan.Zero || value.Value.TotalSeconds > uint.MaxValue))
                {
                    throw new ArgumentOutOfRangeException("value", "CallbackExpiresIn must be positive.");
                }
                _callbackExpiresIn = value;
            }
        }

        /// <summary>Loopback port of the callback listener; 0 (recommended): an ephemeral port.</summary>
        public int CallbackPort
        {
            get { return _callbackPort; }
            set
            {
                if (value < 0 || value > 65535)
                {
                    throw new ArgumentOutOfRangeException("value", "CallbackPort must be between 0 and 65535.");
                }
                _callbackPort = value;
            }
        }

        /// <summary><see cref="SelectionResult.ServerContext"/> of an earlier selection, or null.</summary>
        public string ServerContext { get; set; }

        /// <summary>Extensions with the dot (".ifc") the CDE should offer; empty: all.</summary>
        public IList<string> SupportedFileExtensions { get; } = new List<string>();
    }
}
