{
  "targets": [
    {
      "target_name": "pmem",
      "sources": [
        "native/addon.cc",
        "native/errors_wrap.cc",
        "native/sysfs_linux.cc",
        "native/source_linux.cc",
        "native/mapping_linux.cc",
        "native/persist.cc",
        "native/extent.cc",
        "native/dax_linux.cc",
        "native/device_info_linux.cc",
        "native/safe_read_linux.cc",
        "native/mapping_wrap.cc",
        "native/mapping_fast_v8.cc",
        "native/region_wrap.cc",
        "native/v8_direct.cc",
        "native/flush_worker.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "conditions": [
        ["target_arch=='x64'", { "sources": ["native/arch/x86_64/cpu.cc"] }],
        ["target_arch!='x64'", { "sources": ["native/arch/generic/cpu.cc"] }]
      ]
    }
  ]
}
