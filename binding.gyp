{
  "targets": [
    {
      "target_name": "splitblk",
      "sources": [
        "native/addon.cc",
        "native/shm.cc",
        "native/doorbell.cc",
        "native/aio.cc",
        "native/aio_uring.cc",
        "native/aio_threads.cc",
        "native/stream_socket.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
