// Reading a tensor's logical bytes (row-major, little-endian, contiguous) from its storage:
// direct reads, inflated ZIP members, strided gathers and byte swapping.
#include "io/tensor_data.hpp"

#include <fcntl.h>

#include <algorithm>
#include <mutex>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "amn/error.hpp"
#include "io/display.hpp"
#include "io/zip.hpp"

namespace amn::io {
namespace {

/// Bytes of one element of a plain type whose elements are whole bytes; nullopt for block and
/// sub-byte types (which cannot be strided or byte-swapped).
std::optional<uint64_t> whole_element_bytes(DType dtype) {
  const DTypeInfo& facts = info(dtype);
  if (facts.block_elems != 1 || facts.block_bits % 8 != 0) return std::nullopt;
  return facts.block_bits / 8;
}

/// The unit a big-endian element is swapped in: the element, except complex types whose real
/// and imaginary parts are swapped separately.
uint64_t swap_unit(DType dtype, uint64_t element_bytes) { return dtype == DType::C64 ? element_bytes / 2 : element_bytes; }

void swap_units(std::byte* bytes, uint64_t len, uint64_t unit) {
  if (unit <= 1) return;
  for (uint64_t pos = 0; pos + unit <= len; pos += unit) std::reverse(bytes + pos, bytes + pos + unit);
}

/// Storage bytes [lo, hi) kept from the previous read.
struct CachedBytes {
  uint32_t storage = 0;
  uint64_t lo = 0;
  uint64_t hi = 0;
  std::vector<std::byte> bytes;
  bool valid = false;

  [[nodiscard]] bool holds(uint32_t storage_idx, uint64_t want_lo, uint64_t want_hi) const {
    return valid && storage == storage_idx && lo <= want_lo && want_hi <= hi;
  }
};

/// Where a tensor's elements sit within its storage, validated.
struct Layout {
  uint64_t element_bytes = 0;  ///< 0 for block/sub-byte types (contiguous only)
  uint64_t lo = 0;             ///< first storage byte the tensor touches
  uint64_t hi = 0;             ///< one past the last
};

/// A strided tensor's dims as the gather walks them: size-1 dims dropped and each dim merged
/// into the next when they continue each other (stride[d] == stride[d+1] * shape[d+1]).
struct View {
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;

  /// Row-major: the elements are contiguous, in order.
  [[nodiscard]] bool row_major() const { return shape.empty() || (shape.size() == 1 && strides[0] == 1); }
};

View simplify(const Tensor& tensor) {
  View view;
  for (size_t dim = 0; dim < tensor.shape.size(); ++dim) {
    if (tensor.shape[dim] == 1) continue;
    // Checked arithmetic: a catalog from a library caller is validated only when it is read.
    int64_t span = 0;
    int64_t merged = 0;
    if (!view.shape.empty() && !__builtin_mul_overflow(tensor.strides[dim], tensor.shape[dim], &span) &&
        view.strides.back() == span && !__builtin_mul_overflow(view.shape.back(), tensor.shape[dim], &merged)) {
      view.shape.back() = merged;
      view.strides.back() = tensor.strides[dim];
      continue;
    }
    view.shape.push_back(tensor.shape[dim]);
    view.strides.push_back(tensor.strides[dim]);
  }
  return view;
}

/// What reads need from a catalog: not its metadata (a GGUF's arrays may hold ten million values).
struct Tables {
  std::vector<std::string> files;
  std::vector<Storage> storages;
  std::vector<Tensor> tensors;
};

}  // namespace

struct TensorData::Impl {
  Tables catalog;
  std::vector<View> views;  ///< per tensor; empty for contiguous ones
  Limits limits;
  std::vector<std::optional<File>> files;
  CachedBytes cache;
  std::mutex mutex;  ///< guards `cache` (inflated members, strided spans)

  const File& file(uint32_t file_idx) {
    if (file_idx >= catalog.files.size()) {
      fail_parse("catalog", "storage names file " + std::to_string(file_idx) + " of " + std::to_string(catalog.files.size()));
    }
    auto& slot = files[file_idx];
    if (!slot) slot.emplace(catalog.files[file_idx]);
    return *slot;
  }

  const std::string& file_name(const Storage& storage) const {
    static const std::string kUnknown = "catalog";
    return storage.file_index < catalog.files.size() ? catalog.files[storage.file_index] : kUnknown;
  }

  /// Validates the tensor against its storage and returns the byte span it touches.
  Layout layout(const Tensor& tensor, const Storage& storage) const {
    const std::string& path = file_name(storage);
    // Built only for a message: this runs on every read, some of a few bytes (column slices).
    const auto where = [&] { return "tensor " + quoted(tensor.name); };
    auto elems = element_count(tensor.shape);
    auto bytes = elems ? byte_size(tensor.dtype, *elems) : std::nullopt;
    if (!bytes || *bytes != tensor.nbytes) fail_parse(path, where() + ": byte size disagrees with dtype and shape");
    if (storage.compression == Compression::None && storage.stored_size != storage.size) {
      fail_parse(path, where() + ": uncompressed storage with stored size " + std::to_string(storage.stored_size) +
                           " != size " + std::to_string(storage.size));
    }
    Layout out;
    out.element_bytes = whole_element_bytes(tensor.dtype).value_or(0);
    if (!tensor.contiguous_le() && out.element_bytes == 0) {
      fail_unsupported(path, where() + ": strided or big-endian " + std::string(info(tensor.dtype).name) + " data");
    }
    if (tensor.strides.empty()) {
      if (tensor.byte_offset > storage.size || tensor.nbytes > storage.size - tensor.byte_offset) {
        fail_parse(path, where() + ": bytes [" + std::to_string(tensor.byte_offset) + ", +" + std::to_string(tensor.nbytes) +
                             ") lie outside its storage of " + std::to_string(storage.size) + " bytes");
      }
      out.lo = tensor.byte_offset;
      out.hi = tensor.byte_offset + tensor.nbytes;
      return out;
    }
    if (tensor.strides.size() != tensor.shape.size()) fail_parse(path, where() + ": strides and shape differ in rank");
    if (*elems == 0) {
      out.lo = out.hi = std::min(tensor.byte_offset, storage.size);
      return out;
    }
    // Lowest and highest element offsets (relative to byte_offset) over all indices.
    int64_t low = 0;
    int64_t high = 0;
    for (size_t dim = 0; dim < tensor.shape.size(); ++dim) {
      int64_t reach = 0;
      if (__builtin_mul_overflow(tensor.shape[dim] - 1, tensor.strides[dim], &reach) ||
          __builtin_add_overflow(reach < 0 ? low : high, reach, reach < 0 ? &low : &high)) {
        fail_parse(path, where() + ": strides overflow");
      }
    }
    auto signed_es = static_cast<int64_t>(out.element_bytes);
    int64_t low_bytes = 0;
    int64_t high_bytes = 0;
    if (tensor.byte_offset > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(low, signed_es, &low_bytes) ||
        __builtin_mul_overflow(high + 1, signed_es, &high_bytes) ||
        __builtin_add_overflow(low_bytes, static_cast<int64_t>(tensor.byte_offset), &low_bytes) ||
        __builtin_add_overflow(high_bytes, static_cast<int64_t>(tensor.byte_offset), &high_bytes) || low_bytes < 0 ||
        static_cast<uint64_t>(high_bytes) > storage.size) {
      fail_parse(path, where() + ": strided view (offset " + std::to_string(tensor.byte_offset) +
                           ") reaches outside its storage of " + std::to_string(storage.size) + " bytes");
    }
    out.lo = static_cast<uint64_t>(low_bytes);
    out.hi = static_cast<uint64_t>(high_bytes);
    return out;
  }

  /// Storage bytes covering [lo, hi), from the cache or loaded into it. Deflated storages are
  /// inflated whole (and CRC-checked); plain ones load just the span.
  const CachedBytes& load(uint32_t storage_idx, const Storage& storage, uint64_t lo, uint64_t hi) {
    if (cache.holds(storage_idx, lo, hi)) return cache;
    cache.valid = false;
    cache.bytes.clear();
    cache.bytes.shrink_to_fit();
    const File& source = file(storage.file_index);
    if (storage.compression == Compression::Deflate) {
      cache.bytes = read_storage_bytes(source, storage, "storage " + std::to_string(storage_idx), limits);
      cache.lo = 0;
      cache.hi = storage.size;
    } else {
      if (hi - lo > limits.max_alloc) {
        fail_limit(source.path(), "storage " + std::to_string(storage_idx) + ": a span of " + std::to_string(hi - lo) +
                                      " bytes exceeds the allocation cap of " + std::to_string(limits.max_alloc));
      }
      cache.bytes = source.read_vec(storage.offset + lo, hi - lo);
      cache.lo = lo;
      cache.hi = hi;
    }
    cache.storage = storage_idx;
    cache.valid = true;
    return cache;
  }

  /// Copies storage bytes [begin, begin + len) into dst.
  void copy_plain(uint32_t storage_idx, const Storage& storage, uint64_t begin, uint64_t len, std::byte* dst) {
    if (storage.compression == Compression::None && !cache.holds(storage_idx, begin, begin + len)) {
      file(storage.file_index).read_exact(storage.offset + begin, dst, len);
      return;
    }
    const CachedBytes& bytes = load(storage_idx, storage, begin, begin + len);
    std::memcpy(dst, bytes.bytes.data() + (begin - bytes.lo), len);
  }

  /// Writes logical elements [first, first + count) of a strided tensor into dst: one memcpy
  /// per row when the innermost dim is contiguous, else one per element, the storage offset kept
  /// as a running sum (every dim of `view` is >= 2, so carries cost O(1) per element amortised).
  void gather(const Tensor& tensor, const View& view, const Layout& where, const CachedBytes& bytes, uint64_t first,
              uint64_t count, std::byte* dst) const {
    const size_t rank = view.shape.size();
    const size_t inner = rank - 1;
    std::vector<int64_t> index(rank, 0);
    int64_t element = 0;
    uint64_t rest = first;
    for (size_t dim = rank; dim-- > 0;) {
      auto extent = static_cast<uint64_t>(view.shape[dim]);
      index[dim] = static_cast<int64_t>(rest % extent);
      element += index[dim] * view.strides[dim];
      rest /= extent;
    }
    const uint64_t es = where.element_bytes;
    const std::byte* base = bytes.bytes.data() + (tensor.byte_offset - bytes.lo);
    const int64_t step = view.strides[inner];
    uint64_t done = 0;
    while (done < count) {
      const auto run = std::min<uint64_t>(count - done, static_cast<uint64_t>(view.shape[inner] - index[inner]));
      std::byte* out = dst + done * es;
      if (step == 1) {
        std::memcpy(out, base + element * static_cast<int64_t>(es), run * es);
      } else {
        int64_t at = element;
        for (uint64_t k = 0; k < run; ++k, at += step) std::memcpy(out + k * es, base + at * static_cast<int64_t>(es), es);
      }
      done += run;
      // Move to the start of the next row: the innermost index wraps, the outer ones carry.
      element -= index[inner] * step;
      index[inner] = 0;
      for (size_t dim = inner; dim-- > 0;) {
        element += view.strides[dim];
        if (++index[dim] < view.shape[dim]) break;
        element -= index[dim] * view.strides[dim];
        index[dim] = 0;
      }
    }
  }

  /// Writes whole logical elements [first, first + count) into dst.
  void elements(size_t tensor_idx, const Storage& storage, const Layout& where, uint64_t first, uint64_t count,
                std::byte* dst) {
    const Tensor& tensor = catalog.tensors[tensor_idx];
    const uint32_t storage_idx = tensor.storage;
    const uint64_t len = count * where.element_bytes;
    if (tensor.strides.empty()) {
      copy_plain(storage_idx, storage, tensor.byte_offset + first * where.element_bytes, len, dst);
    } else if (count > 0) {
      gather(tensor, views[tensor_idx], where, load(storage_idx, storage, where.lo, where.hi), first, count, dst);
    }
    if (tensor.byte_order == ByteOrder::Big) swap_units(dst, len, swap_unit(tensor.dtype, where.element_bytes));
  }
};

TensorData::TensorData(const Catalog& catalog, const Limits& limits) : impl_(std::make_unique<Impl>()) {
  impl_->catalog = Tables{catalog.files, catalog.storages, catalog.tensors};
  impl_->views.resize(catalog.tensors.size());
  for (size_t idx = 0; idx < catalog.tensors.size(); ++idx) {
    Tensor& tensor = impl_->catalog.tensors[idx];
    if (tensor.strides.size() != tensor.shape.size()) continue;  // empty, or refused by layout() when read
    View view = simplify(tensor);
    if (view.row_major()) {
      tensor.strides.clear();  // a Fortran-order array of size-1 dims, a view that is contiguous after all
    } else {
      impl_->views[idx] = std::move(view);
    }
  }
  impl_->limits = limits;
  impl_->files.resize(catalog.files.size());
  // Opened up front so that concurrent reads of plain ranges touch no shared state.
  for (uint32_t file_idx = 0; file_idx < catalog.files.size(); ++file_idx) (void)impl_->file(file_idx);
}

TensorData::~TensorData() = default;

void TensorData::read(size_t tensor_idx, uint64_t begin, uint64_t len, std::byte* dst) {
  const Tables& catalog = impl_->catalog;
  if (tensor_idx >= catalog.tensors.size()) {
    throw Error(ErrorCode::Usage, "tensor index " + std::to_string(tensor_idx) + " is out of range");
  }
  const Tensor& tensor = catalog.tensors[tensor_idx];
  if (tensor.storage >= catalog.storages.size()) fail_parse("catalog", "tensor " + quoted(tensor.name) + " names a missing storage");
  const Storage& storage = catalog.storages[tensor.storage];
  if (begin > tensor.nbytes || len > tensor.nbytes - begin) {
    throw Error(ErrorCode::Usage, "tensor " + quoted(tensor.name) + ": bytes [" + std::to_string(begin) + ", +" +
                                      std::to_string(len) + ") outside its " + std::to_string(tensor.nbytes) + " bytes");
  }
  const Layout where = impl_->layout(tensor, storage);
  if (len == 0) return;
  if (tensor.contiguous_le() && storage.compression == Compression::None) {
    // The streaming path: a positional read, then drop those pages from the cache (a cgroup
    // counts page cache against the job's memory). Safe to call from many threads.
    const File& source = impl_->file(storage.file_index);
    uint64_t offset = storage.offset + tensor.byte_offset + begin;
    source.read_exact(offset, dst, len);
    // The kernel drops only whole pages; a read within one page (column slices) skips the call.
    constexpr uint64_t kPage = 4096;
    if (!source.streamed() && (offset + kPage - 1) / kPage < (offset + len) / kPage) {
      ::posix_fadvise(source.fd(), static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_DONTNEED);
    }
    return;
  }
  std::lock_guard lock(impl_->mutex);
  if (tensor.contiguous_le()) {
    impl_->copy_plain(tensor.storage, storage, tensor.byte_offset + begin, len, dst);
    return;
  }
  const uint64_t es = where.element_bytes;
  const uint64_t first = begin / es;
  const uint64_t last = (begin + len + es - 1) / es;
  if (begin % es == 0 && len % es == 0) {
    impl_->elements(tensor_idx, storage, where, first, last - first, dst);
    return;
  }
  std::vector<std::byte> whole((last - first) * es);
  impl_->elements(tensor_idx, storage, where, first, last - first, whole.data());
  std::memcpy(dst, whole.data() + (begin - first * es), len);
}

std::vector<std::byte> TensorData::read_all(size_t tensor_idx) {
  if (tensor_idx >= impl_->catalog.tensors.size()) {
    throw Error(ErrorCode::Usage, "tensor index " + std::to_string(tensor_idx) + " is out of range");
  }
  const Tensor& tensor = impl_->catalog.tensors[tensor_idx];
  if (tensor.nbytes > impl_->limits.max_alloc) {
    const std::string path = tensor.storage < impl_->catalog.storages.size()
                                 ? impl_->file_name(impl_->catalog.storages[tensor.storage])
                                 : std::string("catalog");
    fail_limit(path, "tensor " + quoted(tensor.name) + ": " + std::to_string(tensor.nbytes) + " bytes exceed the allocation cap of " +
                                std::to_string(impl_->limits.max_alloc));
  }
  std::vector<std::byte> out(tensor.nbytes);
  read(tensor_idx, 0, out.size(), out.data());
  return out;
}

void TensorData::set_stream_window(uint64_t bytes) {
  for (const auto& file : impl_->files) {
    if (file) file->set_stream_window(bytes);
  }
}

void TensorData::finish() {
  for (const auto& file : impl_->files) {
    if (file) file->finish();
  }
}

}  // namespace amn::io
