{
  "targets": [
    {
      "target_name": "lily_blas",
      "sources": ["lily_blas.c"],
      "include_dirs": ["<!(node -p \"process.env.LILY_CBLAS_INCLUDE || '/usr/include/x86_64-linux-gnu/openblas-pthread'\")"],
      "libraries": ["-lopenblas"],
      "cflags": ["-O2"]
    }
  ]
}
