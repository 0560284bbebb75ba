using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

namespace OpenCde.Documents
{
    /// <summary>How a selection ended when it did not fail.</summary>
    public enum SelectionOutcome
    {
        /// <summary>The user chose documents: see <see cref="SelectionResult.Documents"/>.</summary>
        Selected = 0,
        /// <summary>The user pressed Cancel in the CDE's page.</summary>
        UserCancelled = 2,
        /// <summary>No answer came within <see cref="SelectionOptions.CallbackExpiresIn"/>.</summary>
        Expired = 3,
    }

    /// <summary>
    /// The result of <see cref="CdeClient.SelectDocumentsAsync"/>. When documents were selected it
    /// owns the native selection, which <see cref="CdeClient.DownloadDocumentAsync"/> and
    /// <see cref="CdeClient.DownloadSelectionAsync"/> need: dispose it when the downloads are done
    /// (disposing it while downloads still run is safe: the native selection is freed once they
    /// have returned).
    /// </summary>
    public sealed class SelectionResult : IDisposable
    {
        private static readonly IReadOnlyList<CdeDocument> NoDocuments = new ReadOnlyCollection<CdeDocument>(new CdeDocument[0]);

        private readonly Selection _selection;

        internal SelectionResult(SelectionOutcome outcome, string selectionUrl, Selection selection, IReadOnlyList<CdeDocument> documents, string serverContext)
        {
            Outcome = outcome;
            SelectionUrl = selectionUrl;
            _selection = selection;
            Documents = documents ?? NoDocuments;
            ServerContext = serverContext;
        }

        /// <summary>Whether documents were selected, the user cancelled, or the wait expired.</summary>
        public SelectionOutcome Outcome { get; private set; }

        /// <summary>True when <see cref="Outcome"/> is <see cref="SelectionOutcome.Selected"/>.</summary>
        public bool IsSelected
        {
            get { return Outcome == SelectionOutcome.Selected; }
        }

        /// <summary>The selected documents (empty unless <see cref="IsSelected"/>).</summary>
        public IReadOnlyList<CdeDocument> Documents { get; private set; }

        /// <summary>The CDE's <c>server_context</c>: pass it to the next selection; null if none.</summary>
        public string ServerContext { get; private set; }

        /// <summary>The CDE page the user was sent to.</summary>
        public string SelectionUrl { get; private set; }

        /// <summary>The native selection; null unless <see cref="IsSelected"/>.</summary>
        internal Selection Selection
        {
            get { return _selection; }
        }

        /// <summary>Frees the native selection. Safe to call more than once.</summary>
        public void Dispose()
        {
            if (_selection != null)
            {
                _selection.Dispose();
            }
        }
    }
}
