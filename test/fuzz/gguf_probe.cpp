// Prints what ggml's gguf_init_from_file reads from argv[1]: "ok" then one line per tensor
// (name, type name, ne0..ne3, offset in the data section, size), or "refused" (exit 1).
#include <cstdio>
#include "ggml.h"
#include "gguf.h"
int main(int argc, char** argv) {
  if (argc != 2) return 2;
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  ggml_context* meta = nullptr;
  params.ctx = &meta;
  gguf_context* ctx = gguf_init_from_file(argv[1], params);
  if (!ctx) { std::puts("refused"); return 1; }
  std::puts("ok");
  for (int64_t i = 0; i < gguf_get_n_tensors(ctx); ++i) {
    const char* name = gguf_get_tensor_name(ctx, i);
    ggml_tensor* t = ggml_get_tensor(meta, name);
    std::printf("%s\t%s\t%lld,%lld,%lld,%lld\t%zu\t%zu\n", name, ggml_type_name(gguf_get_tensor_type(ctx, i)),
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                gguf_get_data_offset(ctx) + gguf_get_tensor_offset(ctx, i), gguf_get_tensor_size(ctx, i));
  }
  gguf_free(ctx);
  ggml_free(meta);
  return 0;
}
