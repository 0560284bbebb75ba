using System;
using System.Runtime.InteropServices;
using System.Text;

namespace OpenCde.Documents
{
    /// <summary>Explicit UTF-8 marshalling, identical on .NET Framework 4.8, Mono and .NET 8.</summary>
    internal static class Utf8
    {
        // Going in: refuse what UTF-8 cannot carry (an unpaired surrogate) instead of sending '?'.
        private static readonly UTF8Encoding Strict = new UTF8Encoding(false, true);

        // Coming out: the library promises UTF-8; should it ever break that, show U+FFFD, never throw.
        private static readonly UTF8Encoding Lenient = new UTF8Encoding(false, false);

        /// <summary>NUL-terminated UTF-8 bytes of <paramref name="value"/>, or null for null.</summary>
        internal static byte[] ToNative(string value, string paramName)
        {
            if (value == null)
            {
                return null;
            }
            if (value.IndexOf('\0') >= 0)
            {
                // The C side would silently cut the string at the NUL.
                throw new ArgumentException("The string must not contain a NUL character.", paramName);
            }
            try
            {
                int length = Strict.GetByteCount(value);
                var bytes = new byte[length + 1];
                Strict.GetBytes(value, 0, value.Length, bytes, 0);
                return bytes;
            }
            catch (EncoderFallbackException e)
            {
                throw new ArgumentException("The string is not valid UTF-16 (unpaired surrogate) and cannot be sent as UTF-8.", paramName, e);
            }
        }

        /// <summary>Copies a NUL-terminated UTF-8 string owned by native code; null for NULL.</summary>
        internal static string FromNative(IntPtr p)
        {
            if (p == IntPtr.Zero)
            {
                return null;
            }
            int length = 0;
            while (Marshal.ReadByte(p, length) != 0)
            {
                length++;
            }
            if (length == 0)
            {
                return string.Empty;
            }
            var bytes = new byte[length];
            Marshal.Copy(p, bytes, 0, length);
            return Lenient.GetString(bytes);
        }

        /// <summary>Copies <paramref name="value"/> into new unmanaged memory (free with FreeHGlobal).</summary>
        internal static IntPtr ToHGlobal(string value, string paramName)
        {
            byte[] bytes = ToNative(value, paramName);
            if (bytes == null)
            {
                return IntPtr.Zero;
            }
            IntPtr p = Marshal.AllocHGlobal(bytes.Length);
            Marshal.Copy(bytes, 0, p, bytes.Length);
            return p;
        }
    }
}
