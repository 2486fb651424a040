# One build system for the whole native side: the N-API addon over libbpf and
# the BPF objects it loads. `npm ci` runs `node-gyp rebuild`, so both are
# built on install; `node-gyp build` rebuilds only what changed.
{
  "variables": {
    "multiarch%": "<!(gcc -print-multiarch)",
  },
  "targets": [
    {
      "target_name": "ekp_native",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/object.cc",
        "native/map.cc",
        "native/netns.cc",
        "native/netlink.cc",
        "native/nfacct.cc",
        "native/attach.cc",
        "native/test_run.cc",
        "native/probe.cc",
        "native/stats.cc",
        "native/iter.cc",
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "<!@(pkg-config --cflags libbpf)"],
      "libraries": ["<!@(pkg-config --libs libbpf)"],
      "defines": ["NAPI_VERSION=8"],
    },
    {
      # The lab benchmark's pod server (native/httpd): plain C, no Node.
      "target_name": "ekp-httpd",
      "type": "executable",
      "sources": ["native/httpd/ekp-httpd.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
    },
    {
      "target_name": "bpf_objects",
      "type": "none",
      "sources": ["<!@(find bpf test/native/fixtures -maxdepth 1 -name *.bpf.c 2>/dev/null | sort)"],
      "rules": [
        {
          # -mcpu=v3: 32-bit subregisters and jumps (kernel 5.1+), so 32-bit
          # arithmetic needs no shifts to clear the upper half: established and
          # reply packets ~4 % faster (scripts/ab-datapath.sh).
          "rule_name": "clang_bpf",
          "extension": "c",
          "inputs": ["<!@(find bpf -name *.h 2>/dev/null | sort)"],
          "outputs": ["<(PRODUCT_DIR)/bpf/<(RULE_INPUT_ROOT).o"],
          "action": [
            "clang", "-target", "bpf", "-mcpu=v3", "-O2", "-g", "-Wall", "-Werror",
            "-I/usr/include/<(multiarch)", "-Ibpf/include", "-Ibpf",
            "-c", "<(RULE_INPUT_PATH)", "-o", "<@(_outputs)",
          ],
          "message": "BPF <(RULE_INPUT_PATH)",
        },
      ],
    },
  ],
}
