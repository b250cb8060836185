{
  "targets": [
    {
      "target_name": "multiproc",
      "sources": ["native/addon.cc", "native/process.cc", "native/shm.cc", "native/futex.cc", "native/futex_async.cc", "native/futex_fallback.cc", "native/futex_uring.cc", "native/liveness.cc", "native/bytes.cc"],
      "cflags_cc": ["-std=c++20", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
