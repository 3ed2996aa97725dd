{
  "targets": [
    {
      "target_name": "rnnlm_native",
      "sources": ["src/addon.c", "src/onednn.c", "src/update.c", "src/rows.c"],
      "cflags": ["-O2", "-std=c11", "-fopenmp", "-Wall", "-Wextra"],
      "libraries": ["-ldnnl", "-fopenmp", "-lm"]
    }
  ]
}
