{
  "targets": [
    {
      "target_name": "rnnlm_native",
      "sources": ["src/addon.c", "src/parallel.c", "src/products.c", "src/recurrent.c"],
      "cflags": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-std=c11"],
      "include_dirs": ["/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu", "/usr/include/openblas"],
      "libraries": ["-lopenblas"]
    }
  ]
}
