// The kernels are a module of their own only so that they alone build without runtime checks (Package.swift);
// to users of the engine they are part of it.
@_exported import Kernels
