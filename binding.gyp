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
        "native/quarantine_linux.cc",
        "native/persist.cc",
        "native/flush_probe_linux.cc",
        "native/extent.cc",
        "native/dax_linux.cc",
        "native/device_info_linux.cc",
        "native/safe_read_linux.cc",
        "native/sigbus_guard_linux.cc",
        "native/mapping_wrap.cc",
        "native/flush_worker.cc",
        "native/crc32c.cc",
        "native/kv_index.cc",
        "native/kv_index_wrap.cc"
      ],
      "include_dirs": ["native"],
      "defines": ["NODE_PMEM_ARCH=<(target_arch)"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-fexceptions", "-fasynchronous-unwind-tables"],
      "conditions": [
        ["target_arch=='x64'", { "sources": ["native/arch/x86_64/cpu.cc"] }],
        ["target_arch=='arm64'", { "sources": ["native/arch/aarch64/cpu.cc"] }],
        ["target_arch!='x64' and target_arch!='arm64'", { "sources": ["native/arch/generic/cpu.cc"] }]
      ]
    }
  ]
}
