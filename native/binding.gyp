{
  "targets": [
    {
      "target_name": "xcast_opus",
      "sources": ["opus_float.c"],
      "cflags": ["-O2", "-Wall"],
      "defines": ["NAPI_VERSION=8"],
      "include_dirs": ["/usr/include/opus"],
      "libraries": ["-lopus"]
    }
  ]
}
