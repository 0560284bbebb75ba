using System;
using System.Collections.Generic;
using System.Linq;

namespace OpenCde.Documents
{
    /// <summary>
    /// Progress of <see cref="CdeClient.DownloadSelectionAsync"/>: one document's bytes and the
    /// bytes of all documents together, as reported to an <see cref="IProgress{T}"/>.
    /// </summary>
    public struct SelectionDownloadProgress
    {
        /// <summary>Creates a progress value.</summary>
        public SelectionDownloadProgress(CdeDocument document, long bytesReceived, long totalBytes, long allBytesReceived, long allTotalBytes)
        {
            Document = document;
            BytesReceived = bytesReceived;
            TotalBytes = totalBytes;
            AllBytesReceived = allBytesReceived;
            AllTotalBytes = allTotalBytes;
        }

        /// <summary>The document this report is about.</summary>
        public CdeDocument Document { get; private set; }

        /// <summary>This document's bytes so far (0 before its first byte).</summary>
        public long BytesReceived { get; private set; }

        /// <summary>This document's size (Content-Length, else the declared size), or -1 (unknown).</summary>
        public long TotalBytes { get; private set; }

        /// <summary>Bytes received so far over all documents of the selection.</summary>
        public long AllBytesReceived { get; private set; }

        /// <summary>The sum of all documents' sizes, or -1 unless every size is known.</summary>
        public long AllTotalBytes { get; private set; }

        /// <summary>This document's progress alone.</summary>
        public DownloadProgress DocumentProgress
        {
            get { return new DownloadProgress(BytesReceived, TotalBytes); }
        }

        /// <summary>The progress of all documents together.</summary>
        public DownloadProgress OverallProgress
        {
            get { return new DownloadProgress(AllBytesReceived, AllTotalBytes); }
        }

        /// <summary>E.g. "Structure L2.ifc (doc-1): 524288 / 1500000 bytes; all: 600000 / 1582345 bytes".</summary>
        public override string ToString()
        {
            return (Document == null ? "?" : Document.ToString()) + ": " + DocumentProgress + "; all: " + OverallProgress;
        }
    }

    /// <summary>The outcome of one document of <see cref="CdeClient.DownloadSelectionAsync"/>.</summary>
    public sealed class DocumentDownloadResult
    {
        internal DocumentDownloadResult(CdeDocument document, OcdeStatus status, string path, string error)
        {
            Document = document;
            Status = status;
            Path = path;
            Error = error;
        }

        /// <summary>The document.</summary>
        public CdeDocument Document { get; private set; }

        /// <summary>
        /// <see cref="OcdeStatus.Ok"/> when the file was written; otherwise why not, e.g.
        /// <see cref="OcdeStatus.Http"/>, <see cref="OcdeStatus.Io"/>, or
        /// <see cref="OcdeStatus.Aborted"/> (stopped by <see cref="CdeClient.AbortAllDownloads"/>).
        /// </summary>
        public OcdeStatus Status { get; private set; }

        /// <summary>True when <see cref="Status"/> is <see cref="OcdeStatus.Ok"/>.</summary>
        public bool Succeeded
        {
            get { return Status == OcdeStatus.Ok; }
        }

        /// <summary>The full path of the file written; null if this document failed.</summary>
        public string Path { get; private set; }

        /// <summary>
        /// Why this document failed, in the library's words (like the message of an <see cref="OcdeException"/>,
        /// never containing the token); null if it succeeded.
        /// </summary>
        public string Error { get; private set; }

        /// <summary>E.g. "site-plan.pdf (doc-3): OCDE_STATUS_OK -> /tmp/x/site-plan.pdf".</summary>
        public override string ToString()
        {
            return Document + ": " + OcdeLibrary.ManagedStatusName(Status) + (Succeeded ? " -> " + Path : " (" + Error + ")");
        }
    }

    /// <summary>
    /// The result of <see cref="CdeClient.DownloadSelectionAsync"/>: one entry per document of the
    /// selection, in the selection's order. Some documents may have failed while others were
    /// written: check <see cref="AllSucceeded"/>.
    /// </summary>
    public sealed class SelectionDownloadResult
    {
        internal SelectionDownloadResult(OcdeStatus status, IReadOnlyList<DocumentDownloadResult> documents)
        {
            Status = status;
            Documents = documents;
        }

        /// <summary>One result per document, in the order of <see cref="SelectionResult.Documents"/>.</summary>
        public IReadOnlyList<DocumentDownloadResult> Documents { get; private set; }

        /// <summary>True when every document was written.</summary>
        public bool AllSucceeded
        {
            get { return Status == OcdeStatus.Ok && Documents.All(d => d.Succeeded); }
        }

        /// <summary>
        /// <see cref="OcdeStatus.Ok"/> when every document was written; <see cref="OcdeStatus.Aborted"/>
        /// when <see cref="CdeClient.AbortAllDownloads"/> stopped them; otherwise the status of the
        /// first document that failed.
        /// </summary>
        public OcdeStatus Status { get; private set; }

        /// <summary>The documents that failed.</summary>
        public IEnumerable<DocumentDownloadResult> Failed
        {
            get { return Documents.Where(d => !d.Succeeded); }
        }

        /// <summary>E.g. "3 documents, 2 written, 1 failed".</summary>
        public override string ToString()
        {
            int written = Documents.Count(d => d.Succeeded);
            return Documents.Count + " documents, " + written + " written, " + (Documents.Count - written) + " failed";
        }
    }
}
