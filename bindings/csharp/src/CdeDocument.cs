using System;
using System.Globalization;
using System.Text.RegularExpressions;

namespace OpenCde.Documents
{
    /// <summary>
    /// A selected document version: every field of <c>OcdeDocument</c>, copied into .NET types
    /// while the selection was alive. Download it with <see cref="CdeClient.DownloadDocumentAsync"/>
    /// while its <see cref="SelectionResult"/> is not disposed, or with
    /// <see cref="CdeClient.DownloadToPathAsync(CdeDocument, string, IProgress{DownloadProgress}, System.Threading.CancellationToken)"/>
    /// at any time.
    /// </summary>
    /// <remarks>
    /// URLs are kept as the exact strings the CDE sent (not <see cref="Uri"/>): presigned storage
    /// URLs must not be re-encoded, and <see cref="Uri"/> canonicalises escapes on some runtimes.
    /// </remarks>
    public sealed class CdeDocument
    {
        internal CdeDocument(Selection owner, int index, OcdeDocumentNative native)
        {
            Owner = owner;
            Index = index;
            DocumentId = Utf8.FromNative(native.document_id) ?? string.Empty;
            Title = Utf8.FromNative(native.title) ?? string.Empty;
            FileName = Utf8.FromNative(native.file_name) ?? string.Empty;
            SizeInBytes = native.size_in_bytes < 0 ? -1 : native.size_in_bytes;
            VersionNumber = Utf8.FromNative(native.version_number) ?? string.Empty;
            VersionIndex = native.version_index;
            CreationDateText = Utf8.FromNative(native.creation_date) ?? string.Empty;
            CreationDate = ParseDate(CreationDateText);
            DownloadUrl = Utf8.FromNative(native.download_url) ?? string.Empty;
            MetadataUrl = Utf8.FromNative(native.metadata_url) ?? string.Empty;
            VersionsUrl = Utf8.FromNative(native.versions_url) ?? string.Empty;
            VersionUrl = Utf8.FromNative(native.version_url) ?? string.Empty;
            DetailsUrl = Utf8.FromNative(native.details_url);
        }

        internal Selection Owner { get; private set; }

        /// <summary>Position in the selection (0-based).</summary>
        public int Index { get; private set; }

        /// <summary><c>document_id</c>; "" when the server omitted it.</summary>
        public string DocumentId { get; private set; }

        /// <summary><c>title</c>; "" when absent.</summary>
        public string Title { get; private set; }

        /// <summary>
        /// <c>file_description.name</c> exactly as sent, possibly unsafe as a file name (e.g.
        /// "Проект/模型 ü.ifc"). <see cref="CdeClient.DownloadDocumentAsync"/> makes it safe.
        /// </summary>
        public string FileName { get; private set; }

        /// <summary><c>file_description.size_in_bytes</c>; -1 when unknown.</summary>
        public long SizeInBytes { get; private set; }

        /// <summary><c>version_number</c> (free text).</summary>
        public string VersionNumber { get; private set; }

        /// <summary><c>version_index</c>; 0 when absent.</summary>
        public long VersionIndex { get; private set; }

        /// <summary><c>creation_date</c> parsed leniently; null when absent or unreadable.</summary>
        public DateTimeOffset? CreationDate { get; private set; }

        /// <summary><c>creation_date</c> exactly as sent (RFC 3339 expected).</summary>
        public string CreationDateText { get; private set; }

        /// <summary><c>links.document_version_download.url</c>.</summary>
        public string DownloadUrl { get; private set; }

        /// <summary><c>links.document_version_metadata.url</c>.</summary>
        public string MetadataUrl { get; private set; }

        /// <summary><c>links.document_versions.url</c>.</summary>
        public string VersionsUrl { get; private set; }

        /// <summary><c>links.document_version.url</c>.</summary>
        public string VersionUrl { get; private set; }

        /// <summary><c>links.document_details.url</c>; null when absent.</summary>
        public string DetailsUrl { get; private set; }

        /// <summary>The file name and id, for display.</summary>
        public override string ToString()
        {
            return FileName + " (" + DocumentId + ")";
        }

        private static readonly Regex LongFraction = new Regex(@"(\.\d{7})\d+", RegexOptions.CultureInvariant);

        /// <summary>
        /// Reads an RFC 3339 / ISO 8601 date leniently: 'T' or a space, 't'/'z' in lower case,
        /// more than 7 fractional digits (truncated), no offset (taken as UTC). Null if unreadable.
        /// </summary>
        internal static DateTimeOffset? ParseDate(string text)
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }
            string s = text.Trim().ToUpperInvariant();
            s = LongFraction.Replace(s, "$1");
            DateTimeOffset value;
            if (DateTimeOffset.TryParse(
                s,
                CultureInfo.InvariantCulture,
                DateTimeStyles.AllowWhiteSpaces | DateTimeStyles.AssumeUniversal,
                out value))
            {
                return value;
            }
            return null;
        }
    }
}
