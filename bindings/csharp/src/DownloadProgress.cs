namespace OpenCde.Documents
{
    /// <summary>Progress of one download, as reported to an <see cref="System.IProgress{T}"/>.</summary>
    public struct DownloadProgress
    {
        /// <summary>Creates a progress value.</summary>
        public DownloadProgress(long bytesReceived, long totalBytes)
        {
            BytesReceived = bytesReceived;
            TotalBytes = totalBytes;
        }

        /// <summary>Bytes received so far (0 before the first byte).</summary>
        public long BytesReceived { get; private set; }

        /// <summary>Content-Length, else the size the CDE declared, else -1 (unknown).</summary>
        public long TotalBytes { get; private set; }

        /// <summary>Fraction done between 0 and 1, or null while the total is unknown.</summary>
        public double? Fraction
        {
            get
            {
                if (TotalBytes <= 0)
                {
                    return null;
                }
                double f = (double)BytesReceived / TotalBytes;
                return f > 1.0 ? 1.0 : f;
            }
        }

        /// <summary>E.g. "524288 / 1500000 bytes".</summary>
        public override string ToString()
        {
            return TotalBytes >= 0
                ? BytesReceived + " / " + TotalBytes + " bytes"
                : BytesReceived + " bytes";
        }
    }
}
