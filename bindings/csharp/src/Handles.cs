using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace OpenCde.Documents
{
    /// <summary>Owns an <c>OcdeClient*</c>; releasing it calls <c>ocde_client_free</c>.</summary>
    internal sealed class ClientHandle : SafeHandle
    {
        // GCHandle (as IntPtr) of the client's LogRelay, if a log handler was ever set. Freed only
        // after ocde_client_free: until then native code may hold it as user_data.
        private IntPtr _logState;

        // Used by the P/Invoke marshaller for `out ClientHandle`.
        public ClientHandle()
            : base(IntPtr.Zero, true)
        {
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        internal IntPtr LogState
        {
            get { return _logState; }
            set { _logState = value; }
        }

        protected override bool ReleaseHandle()
        {
            // SafeHandle guarantees no other thread is inside a call that uses this handle (each
            // call AddRefs it), which is exactly ocde_client_free's precondition.
            NativeMethods.ocde_client_free(handle);
            IntPtr log = Interlocked.Exchange(ref _logState, IntPtr.Zero);
            if (log != IntPtr.Zero)
            {
                GCHandle.FromIntPtr(log).Free();
            }
            HandleCounters.OnClientReleased();
            return true;
        }
    }

    /// <summary>Owns an <c>OcdeSelection*</c>; releasing it calls <c>ocde_selection_free</c>.</summary>
    internal sealed class SelectionHandle : SafeHandle
    {
        // Used by the P/Invoke marshaller for `out SelectionHandle`.
        public SelectionHandle()
            : base(IntPtr.Zero, true)
        {
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            NativeMethods.ocde_selection_free(handle);
            HandleCounters.OnSelectionReleased();
            return true;
        }
    }

    /// <summary>Owns an <c>OcdeServer*</c>; releasing it calls <c>ocde_server_free</c>.</summary>
    internal sealed class ServerHandle : SafeHandle
    {
        // Used by the P/Invoke marshaller for `out ServerHandle`.
        public ServerHandle()
            : base(IntPtr.Zero, true)
        {
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            NativeMethods.ocde_server_free(handle);
            HandleCounters.OnServerReleased();
            return true;
        }
    }

    /// <summary>Owns an <c>OcdeSignIn*</c>; releasing it calls <c>ocde_sign_in_free</c>.</summary>
    internal sealed class SignInHandle : SafeHandle
    {
        // Used by the P/Invoke marshaller for `out SignInHandle`.
        public SignInHandle()
            : base(IntPtr.Zero, true)
        {
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            // Stops the sign-in's loopback listener (its port is free when this returns).
            NativeMethods.ocde_sign_in_free(handle);
            HandleCounters.OnSignInReleased();
            return true;
        }
    }

    /// <summary>Counts native handles created and released (diagnostics and leak tests).</summary>
    internal static class HandleCounters
    {
        private static long s_clientsCreated;
        private static long s_clientsReleased;
        private static long s_selectionsCreated;
        private static long s_selectionsReleased;
        private static long s_serversCreated;
        private static long s_serversReleased;
        private static long s_signInsCreated;
        private static long s_signInsReleased;

        internal static long ClientsCreated { get { return Interlocked.Read(ref s_clientsCreated); } }
        internal static long ClientsReleased { get { return Interlocked.Read(ref s_clientsReleased); } }
        internal static long SelectionsCreated { get { return Interlocked.Read(ref s_selectionsCreated); } }
        internal static long SelectionsReleased { get { return Interlocked.Read(ref s_selectionsReleased); } }
        internal static long ServersCreated { get { return Interlocked.Read(ref s_serversCreated); } }
        internal static long ServersReleased { get { return Interlocked.Read(ref s_serversReleased); } }
        internal static long SignInsCreated { get { return Interlocked.Read(ref s_signInsCreated); } }
        internal static long SignInsReleased { get { return Interlocked.Read(ref s_signInsReleased); } }

        internal static void OnClientCreated() { Interlocked.Increment(ref s_clientsCreated); }
        internal static void OnClientReleased() { Interlocked.Increment(ref s_clientsReleased); }
        internal static void OnSelectionCreated() { Interlocked.Increment(ref s_selectionsCreated); }
        internal static void OnSelectionReleased() { Interlocked.Increment(ref s_selectionsReleased); }
        internal static void OnServerCreated() { Interlocked.Increment(ref s_serversCreated); }
        internal static void OnServerReleased() { Interlocked.Increment(ref s_serversReleased); }
        internal static void OnSignInCreated() { Interlocked.Increment(ref s_signInsCreated); }
        internal static void OnSignInReleased() { Interlocked.Increment(ref s_signInsReleased); }
    }
}
