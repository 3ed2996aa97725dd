{
  "targets": [
    {
      "target_name": "rnnlm_native",
      "sources": ["src/addon.c", "src/onednn.c", "src/update.c", "src/rows.c", "src/fwd.c"],
      "cflags": ["-O2", "-std=c11", "-fopenmp", "-Wall", "-Wextra", "-Wno-psabi"],
      "libraries": ["-ldnnl", "-fopenmp", "-lm"]
    }
  ]
}
