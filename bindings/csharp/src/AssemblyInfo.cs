using System.Runtime.CompilerServices;

// The tests check the handle counters and the struct layouts, which are internal.
[assembly: InternalsVisibleTo("OpenCde.Documents.Tests")]
