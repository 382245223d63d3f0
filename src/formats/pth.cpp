// PyTorch checkpoints (torch.save since 1.6): a ZIP whose one top-level folder holds data.pkl, a
// restricted pickle naming storages `<prefix>/data/<key>`; tensors become views of those members.
#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "amn/error.hpp"
#include "formats/formats.hpp"
#include "formats/pickle.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/file.hpp"
#include "io/zip.hpp"

namespace amn::formats {
namespace {

using pickle::Global;
using pickle::Kind;
using pickle::Object;

constexpr uint64_t kTarMagicOffset = 257;  ///< "ustar" in a POSIX tar header (oldest torch.save)
constexpr std::string_view kTarMagic = "ustar";
constexpr uint8_t kPickleProtoOp = 0x80;     ///< a pickle stream's first byte (PROTO)
constexpr uint64_t kMaxByteorderBytes = 16;  ///< "little" or "big"; anything longer is not read
constexpr size_t kMaxShownChars = 60;   ///< longest string value quoted in a description or message
constexpr size_t kMaxShownName = 300;   ///< longest tensor name quoted in a message

// Argument counts of torch's rebuild functions (torch/_utils.py).
constexpr size_t kRebuildTensorArgs = 4;        // storage, offset, size, stride
constexpr size_t kRebuildTensorV2Args = 6;      // + requires_grad, backward_hooks [, metadata]
constexpr size_t kRebuildTensorV3Args = 7;      // + dtype [, metadata]
constexpr size_t kRebuildFromTypeArgs = 4;      // func, new_type, args, state
constexpr size_t kPersistentIdFields = 5;       // 'storage', storage_type, key, location, numel

/// Refuses a file that is not a ZIP: the pre-1.6 formats are named, anything else is malformed.
[[noreturn]] void refuse_non_zip(const io::File& file) {
  std::array<unsigned char, kTarMagicOffset + kTarMagic.size()> head{};
  const uint64_t len = std::min<uint64_t>(head.size(), file.size());
  file.read_exact(0, head.data(), len);
  const bool tar = len == head.size() && std::memcmp(head.data() + kTarMagicOffset, kTarMagic.data(), kTarMagic.size()) == 0;
  if (tar) {
    fail_unsupported(file.path(), "pre-1.6 legacy format (tar archive of torch before 0.4) is not supported; load and "
                                  "re-save it with a current torch");
  }
  if (len >= 2 && head[0] == kPickleProtoOp) {  // the legacy stream opens with a pickled magic number
    fail_unsupported(file.path(), "pre-1.6 legacy format (bare pickle stream, as torch.save writes with "
                                  "_use_new_zipfile_serialization=False) is not supported; load and re-save it with "
                                  "a current torch");
  }
  fail_parse(file.path(), "not a PyTorch ZIP archive (no ZIP local header at offset 0)");
}

/// The members of a torch archive that matter, found under its single top-level folder.
struct Archive {
  std::string prefix;  ///< "archive" or the saved file's stem
  const io::ZipMember* data_pkl = nullptr;
  const io::ZipMember* byteorder = nullptr;
  std::unordered_map<std::string, const io::ZipMember*> by_name;
};

Archive locate(const std::string& path, const std::vector<io::ZipMember>& members) {
  Archive archive;
  std::vector<std::string> pickles;
  std::set<std::string> prefixes;
  for (const auto& member : members) {
    auto slash = member.name.find('/');
    if (slash == std::string::npos || slash == 0) {
      fail_parse(path, "member " + io::quoted(member.name, kMaxShownChars) +
                           " is not inside a top-level folder (a torch archive keeps every record under one folder)");
    }
    prefixes.insert(member.name.substr(0, slash));
    if (member.name.size() >= 9 && member.name.ends_with("/data.pkl")) pickles.push_back(member.name);
    archive.by_name.emplace(member.name, &member);
  }
  if (pickles.size() > 1) {
    fail_parse(path, "two data.pkl members (" + io::quoted(pickles[0], kMaxShownChars) + " and " +
                         io::quoted(pickles[1], kMaxShownChars) + "); a torch archive has one");
  }
  if (prefixes.size() > 1) {
    fail_parse(path, "two top-level prefixes (" + io::quoted(*prefixes.begin(), kMaxShownChars) + " and " +
                         io::quoted(*std::next(prefixes.begin()), kMaxShownChars) + "); a torch archive has one");
  }
  if (prefixes.empty()) fail_parse(path, "empty ZIP archive: no data.pkl");
  archive.prefix = *prefixes.begin();
  const std::string base = archive.prefix + "/";
  if (archive.by_name.contains(base + "constants.pkl") ||
      std::any_of(members.begin(), members.end(), [&](const auto& m) { return m.name.starts_with(base + "code/"); })) {
    fail_unsupported(path, "a TorchScript archive (torch.jit.save: constants.pkl, code/) is not supported; save the "
                           "module's state_dict() with torch.save instead");
  }
  auto find = [&](const std::string& name) -> const io::ZipMember* {
    auto found = archive.by_name.find(name);
    return found == archive.by_name.end() ? nullptr : found->second;
  };
  archive.data_pkl = find(base + "data.pkl");
  if (archive.data_pkl == nullptr) fail_parse(path, "no " + base + "data.pkl member: not a PyTorch archive");
  archive.byteorder = find(base + "byteorder");
  return archive;
}

ByteOrder read_byteorder(const io::File& file, const Archive& archive, const Limits& limits) {
  if (archive.byteorder == nullptr) return ByteOrder::Little;  // torch before 1.12 wrote none: little
  const std::string where = archive.prefix + "/byteorder";
  if (archive.byteorder->uncompressed_size > kMaxByteorderBytes) {
    fail_parse(file.path(), where + ": " + std::to_string(archive.byteorder->uncompressed_size) +
                                " bytes; expected 'little' or 'big'");
  }
  auto bytes = io::read_member(file, *archive.byteorder, limits);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (text == "little") return ByteOrder::Little;
  if (text == "big") return ByteOrder::Big;
  fail_parse(file.path(), where + ": " + io::quoted(text, kMaxShownChars) + " is neither 'little' nor 'big'");
}

/// Walks the unpickled object: dicts (and lists holding tensors or dicts) give dotted names,
/// rebuild calls give tensors, anything else is described in Catalog::extras.
class Builder {
 public:
  Builder(const io::File& file, const Archive& archive, const pickle::Unpickled& unpickled, ByteOrder byte_order,
          const Limits& limits)
      : file_(file), archive_(archive), objects_(unpickled), byte_order_(byte_order), limits_(limits) {
    catalog_.format = Format::Pth;
    catalog_.files = {file.path()};
    catalog_.file_sizes = {file.size()};
  }

  Catalog build() {
    const Object& root = objects_.root_object();
    if (root.kind != Kind::Dict && root.kind != Kind::List && root.kind != Kind::Tuple) {
      amn::fail_unsupported(file_.path(), pickle_name() + ": the top-level object is a " + describe_kind(root) +
                                              "; amn reads a dict (state_dict or checkpoint) or list of tensors");
    }
    walk(objects_.root, "", 0);
    catalog_.description = nested_ ? "PyTorch checkpoint" : "PyTorch state_dict";
    if (root.kind == Kind::Dict) note_state_dicts(root);
    return std::move(catalog_);
  }

 private:
  struct StorageUse {
    uint32_t index;       ///< into catalog_.storages
    DType dtype;          ///< the storage's element type
    uint64_t bytes;       ///< numel × itemsize
  };
  struct Rebuild {
    Global function;
    const Object* args;
  };

  /// Catalog::state_dicts: the top-level str keys whose value is a dict holding a tensor itself.
  void note_state_dicts(const Object& root) {
    for (size_t pos = 0; pos + 1 < root.items.size(); pos += 2) {
      const Object& key = item(root, pos);
      const Object& value = item(root, pos + 1);
      if (key.kind != Kind::Str || value.kind != Kind::Dict) continue;
      for (size_t inner = 1; inner < value.items.size(); inner += 2) {
        if (item(value, inner).kind == Kind::Call) {
          catalog_.state_dicts.push_back(key.text);
          break;
        }
      }
    }
  }

  /// The data.pkl member's name as messages show it.
  std::string pickle_name() const { return io::display(archive_.data_pkl->name); }

  [[noreturn]] void fail(const Object& at, const std::string& what) const {
    fail_parse(file_.path(), pickle_name() + ": " + what + " (object built at offset " +
                                 std::to_string(at.offset) + ")");
  }
  [[noreturn]] void fail_tensor(const std::string& name, const Object& at, const std::string& what) const {
    fail(at, "tensor " + io::quoted(name, kMaxShownName) + ": " + what);
  }

  const Object& item(const Object& parent, size_t idx) const { return objects_.at(parent.items[idx]); }

  static std::string describe_kind(const Object& object) {
    if (object.kind == Kind::Call) return "tensor";
    return pickle::kind_name(object.kind);
  }

  /// A short description of a non-tensor value ("int 3", "str 'adam'", "list[2]").
  static std::string describe(const Object& object) {
    switch (object.kind) {
      case Kind::None: return "None";
      case Kind::Bool: return object.integer != 0 ? "bool True" : "bool False";
      case Kind::Int: return "int " + std::to_string(object.integer);
      case Kind::BigInt: return "int (" + std::to_string(object.text.size()) + "-byte)";
      case Kind::Float: {
        std::array<char, 32> text{};
        auto result = std::to_chars(text.data(), text.data() + text.size(), object.real);
        return "float " + std::string(text.data(), result.ptr);
      }
      case Kind::Str: return "str " + io::quoted(object.text, kMaxShownChars);
      case Kind::Bytes: return "bytes[" + std::to_string(object.text.size()) + "]";
      case Kind::Tuple: return "tuple[" + std::to_string(object.items.size()) + "]";
      case Kind::List: return "list[" + std::to_string(object.items.size()) + "]";
      case Kind::Dict: return "dict[" + std::to_string(object.items.size() / 2) + "]";
      case Kind::Set: return "set[" + std::to_string(object.items.size()) + "]";
      case Kind::Global: return object.text;
      case Kind::PersistentId: return "storage";
      case Kind::Call: return "tensor";
    }
    return "?";
  }

  std::string key_text(const Object& key, const std::string& parent) const {
    if (key.kind == Kind::Str) return key.text;
    if (key.kind == Kind::Int) return std::to_string(key.integer);
    fail(key, "a dict key under " + io::quoted(parent, kMaxShownName) + " is a " + describe_kind(key) +
                  " (names need str or int keys)");
  }

  static std::string join(const std::string& parent, const std::string& part) {
    return parent.empty() ? part : parent + "." + part;
  }

  /// Lists and tuples are descended into when they hold a tensor or a dict; otherwise a leaf.
  /// Remembered per object: a list reached many times is scanned once.
  bool holds_structure(uint32_t index) {
    auto [found, inserted] = holds_structure_.try_emplace(index, false);
    if (inserted) {
      charge_names(io::kNodeBytes);
      const Object& sequence = objects_.at(index);
      found->second = std::any_of(sequence.items.begin(), sequence.items.end(), [&](uint32_t child) {
        Kind kind = objects_.at(child).kind;
        return kind == Kind::Call || kind == Kind::Dict;
      });
    }
    return found->second;
  }

  /// Walks `index` reached under `name`. A container reached a second time (shared, or a cycle)
  /// is described, not walked again, and a tensor reached again is copied, so the walk is
  /// linear in the pickle whatever its sharing.
  void walk(uint32_t index, const std::string& name, uint32_t depth) {
    const Object& object = objects_.at(index);
    if (depth > limits_.max_depth) {
      fail_limit(file_.path(), pickle_name() + ": objects nested deeper than " +
                                   std::to_string(limits_.max_depth) + " levels at " + io::quoted(name, kMaxShownChars));
    }
    if (name.size() > limits_.max_name) {
      fail_limit(file_.path(), pickle_name() + ": name of " + std::to_string(name.size()) +
                                   " bytes exceeds the cap of " + std::to_string(limits_.max_name) + " at " +
                                   io::quoted(name, kMaxShownChars));
    }
    if (depth > 1) nested_ = true;
    if (object.kind == Kind::Call) {
      add_tensor(name, index);
      return;
    }
    const bool is_root = depth == 0;
    const bool descend = object.kind == Kind::Dict ? is_root || !object.items.empty()
                         : object.kind == Kind::List || object.kind == Kind::Tuple ? is_root || holds_structure(index)
                                                                                   : false;
    if (!descend) {
      add_extra(name, object, describe(object));
      return;
    }
    auto [first, inserted] = entered_.emplace(index, name);
    if (!inserted) {
      add_extra(name, object, describe(object) + " (the same object as " +
                          (first->second.empty() ? std::string("the top level") : io::quoted(first->second, kMaxShownChars)) +
                          ")");
      return;
    }
    charge_names(name.size());
    const size_t step = object.kind == Kind::Dict ? 2 : 1;
    for (size_t pos = 0; pos < object.items.size(); pos += step) {
      const std::string part = object.kind == Kind::Dict ? key_text(item(object, pos), name) : std::to_string(pos);
      walk(object.items[pos + step - 1], join(name, part), depth + 1);
    }
  }

  /// Memory of the names, descriptions and tables the walk produces, against limits.max_alloc
  /// and the open's heap budget.
  void charge_names(uint64_t bytes) {
    name_bytes_ += bytes;
    if (name_bytes_ > limits_.max_alloc) {
      fail_limit(file_.path(), pickle_name() + ": names and descriptions exceed " +
                                   std::to_string(limits_.max_alloc) + " bytes");
    }
    io::charge(file_.path(), bytes, pickle_name() + ": names and descriptions");
  }

  /// Checks that a tensor or extra name is unique and charges it (walk checked its length).
  void claim_name(const std::string& name, const Object& at, uint64_t extra_bytes) {
    if (!names_.insert(name).second) fail(at, "the name " + io::quoted(name, kMaxShownChars) + " appears twice");
    if (names_.size() > limits_.max_items) {
      fail_limit(file_.path(), pickle_name() + ": more names than the item cap");
    }
    charge_names(2 * name.size() + io::kNodeBytes + extra_bytes);  // the catalog's copy and the uniqueness set's
  }

  void add_extra(const std::string& name, const Object& value, std::string description) {
    nested_ = true;
    claim_name(name, value, sizeof(catalog_.extras.front()) + description.size());
    catalog_.extras.emplace_back(name, std::move(description));
  }

  /// Follows Parameter and subclass wrappers down to the _rebuild_tensor* call.
  Rebuild unwrap(const std::string& name, const Object& call) const {
    Rebuild rebuild{call.global, &item(call, 0)};
    for (uint32_t hop = 0; hop <= limits_.max_depth; ++hop) {
      const Object& args = *rebuild.args;
      switch (rebuild.function) {
        case Global::RebuildParameter:
        case Global::RebuildParameterWithState: {
          if (args.items.empty() || item(args, 0).kind != Kind::Call) {
            fail_tensor(name, args, "_rebuild_parameter needs a tensor as its first argument");
          }
          const Object& data = item(args, 0);
          rebuild = {data.global, &item(data, 0)};
          break;
        }
        case Global::RebuildFromTypeV2: {
          if (args.items.size() != kRebuildFromTypeArgs || item(args, 0).kind != Kind::Global ||
              !pickle::is_rebuild_function(item(args, 0).global) || item(args, 1).kind != Kind::Global ||
              (item(args, 1).global != Global::TensorType && item(args, 1).global != Global::ParameterType) ||
              item(args, 2).kind != Kind::Tuple) {
            fail_tensor(name, args, "_rebuild_from_type_v2 needs (rebuild function, torch.Tensor or Parameter, args, state)");
          }
          rebuild = {item(args, 0).global, &item(args, 2)};
          break;
        }
        default: return rebuild;
      }
    }
    fail_tensor(name, call, "tensor wrappers nested deeper than " + std::to_string(limits_.max_depth) + " levels");
  }

  int64_t int_arg(const std::string& name, const Object& value, const char* what) const {
    if (value.kind != Kind::Int || value.integer < 0) {
      fail_tensor(name, value, std::string(what) + " is a " + describe(value) + ", expected a non-negative int");
    }
    return value.integer;
  }
  std::vector<int64_t> int_tuple(const std::string& name, const Object& tuple, const char* what) const {
    if (tuple.kind != Kind::Tuple) fail_tensor(name, tuple, std::string(what) + " is a " + describe_kind(tuple) + ", expected a tuple");
    if (tuple.items.size() > limits_.max_dims) {
      fail_limit(file_.path(), pickle_name() + ": tensor " + io::quoted(name, kMaxShownName) + ": " + what +
                                   " has " + std::to_string(tuple.items.size()) + " dims, above the cap of " +
                                   std::to_string(limits_.max_dims));
    }
    std::vector<int64_t> values;
    for (size_t dim = 0; dim < tuple.items.size(); ++dim) values.push_back(int_arg(name, item(tuple, dim), what));
    return values;
  }

  /// Refuses tensors whose metadata sets the conjugate or negative bit (their bytes are not the
  /// values). A metadata dict shared by many tensors is checked once.
  void check_metadata(const std::string& name, uint32_t index) {
    const Object& metadata = objects_.at(index);
    if (metadata.kind == Kind::None) return;
    if (!metadata_checked_.insert(index).second) return;
    charge_names(io::kNodeBytes);
    if (metadata.kind != Kind::Dict) fail_tensor(name, metadata, "metadata is a " + describe_kind(metadata) + ", expected a dict");
    for (size_t pos = 0; pos + 1 < metadata.items.size(); pos += 2) {
      const Object& value = item(metadata, pos + 1);
      if (value.kind == Kind::Bool && value.integer == 0) continue;
      amn::fail_unsupported(file_.path(), pickle_name() + ": tensor " + io::quoted(name, kMaxShownName) +
                                              ": metadata " + describe(item(metadata, pos)) +
                                              " (conjugate/negative view bits) is not supported");
    }
  }

  /// The storage a persistent id names: `('storage', storage_type, key, location, numel)`.
  const StorageUse& storage(const std::string& name, const Object& reference) {
    if (reference.kind != Kind::PersistentId) {
      fail_tensor(name, reference, "storage argument is a " + describe_kind(reference) + ", expected a persistent id");
    }
    const Object& pid = item(reference, 0);
    if (pid.kind != Kind::Tuple || pid.items.size() != kPersistentIdFields ||
        (item(pid, 0).kind != Kind::Str && item(pid, 0).kind != Kind::Bytes) || item(pid, 0).text != "storage" ||
        item(pid, 1).kind != Kind::Global ||
        (item(pid, 1).global != Global::TypedStorage && item(pid, 1).global != Global::UntypedStorage) ||
        item(pid, 2).kind != Kind::Str || item(pid, 3).kind != Kind::Str || item(pid, 4).kind != Kind::Int) {
      fail_tensor(name, pid, "persistent id is not ('storage', storage type, key, location, numel)");
    }
    const Object& type = item(pid, 1);
    const DType dtype = type.global == Global::TypedStorage ? type.dtype : DType::U8;
    const std::string& key = item(pid, 2).text;
    const int64_t numel = int_arg(name, item(pid, 4), "storage numel");
    auto bytes = byte_size(dtype, static_cast<uint64_t>(numel));
    if (!bytes) fail_tensor(name, pid, "storage numel " + std::to_string(numel) + " overflows");

    auto found = storages_.find(key);
    if (found != storages_.end()) {
      if (found->second.dtype != dtype || found->second.bytes != *bytes) {
        fail_tensor(name, pid, "storage " + io::quoted(key, kMaxShownChars) + " is named again with another type or size");
      }
      return found->second;
    }
    const std::string member_name = archive_.prefix + "/data/" + key;
    auto member = archive_.by_name.find(member_name);
    if (member == archive_.by_name.end()) {
      fail_tensor(name, pid, "storage " + io::quoted(key, kMaxShownChars) + ": member " +
                                 io::quoted(member_name, kMaxShownChars) + " is missing");
    }
    if (member->second->uncompressed_size != *bytes) {
      fail_tensor(name, pid, "storage " + io::quoted(key, kMaxShownChars) + ": member holds " +
                                 std::to_string(member->second->uncompressed_size) + " bytes, but numel " +
                                 std::to_string(numel) + " of " + std::string(info(dtype).name) + " needs " +
                                 std::to_string(*bytes));
    }
    catalog_.storages.push_back(io::member_storage(*member->second, 0));
    StorageUse use{static_cast<uint32_t>(catalog_.storages.size() - 1), dtype, *bytes};
    return storages_.emplace(key, use).first->second;
  }

  /// The tensor a rebuild call stands for; a call reached again (tied weights) is copied.
  void add_tensor(const std::string& name, uint32_t call_index) {
    const Object& call = objects_.at(call_index);
    claim_name(name, call, sizeof(Tensor) + 2 * limits_.max_dims * sizeof(int64_t));  // the tensor, shape, strides
    auto [built, inserted] = tensor_of_call_.try_emplace(call_index, catalog_.tensors.size());
    if (!inserted) {
      charge_names(io::kNodeBytes);
      Tensor copy = catalog_.tensors[built->second];
      copy.name = name;
      catalog_.tensors.push_back(std::move(copy));
      return;
    }
    const Rebuild rebuild = unwrap(name, call);
    const Object& args = *rebuild.args;
    const size_t count = args.items.size();
    const bool arity_ok = (rebuild.function == Global::RebuildTensor && count == kRebuildTensorArgs) ||
                          (rebuild.function == Global::RebuildTensorV2 &&
                           (count == kRebuildTensorV2Args || count == kRebuildTensorV2Args + 1)) ||
                          (rebuild.function == Global::RebuildTensorV3 &&
                           (count == kRebuildTensorV3Args || count == kRebuildTensorV3Args + 1));
    if (!arity_ok) fail_tensor(name, args, "rebuild function called with " + std::to_string(count) + " arguments");

    const StorageUse use = storage(name, item(args, 0));
    DType dtype = use.dtype;
    if (rebuild.function == Global::RebuildTensorV3) {
      const Object& dtype_arg = item(args, kRebuildTensorV3Args - 1);
      if (dtype_arg.kind != Kind::Global || dtype_arg.global != Global::TorchDType) {
        fail_tensor(name, dtype_arg, "_rebuild_tensor_v3 dtype is a " + describe(dtype_arg) + ", expected a torch dtype");
      }
      if (use.dtype != DType::U8) fail_tensor(name, args, "_rebuild_tensor_v3 needs an UntypedStorage");
      dtype = dtype_arg.dtype;
    }
    const size_t metadata_pos = rebuild.function == Global::RebuildTensorV3 ? kRebuildTensorV3Args : kRebuildTensorV2Args;
    if (count > metadata_pos) check_metadata(name, args.items[metadata_pos]);

    Tensor tensor;
    tensor.name = name;
    tensor.dtype = dtype;
    tensor.storage = use.index;
    tensor.byte_order = byte_order_;
    const int64_t storage_offset = int_arg(name, item(args, 1), "storage offset");
    tensor.shape = int_tuple(name, item(args, 2), "size");
    std::vector<int64_t> stride = int_tuple(name, item(args, 3), "stride");
    if (stride.size() != tensor.shape.size()) {
      fail_tensor(name, args, "stride has " + std::to_string(stride.size()) + " dims, size has " +
                                  std::to_string(tensor.shape.size()));
    }
    auto numel = element_count(tensor.shape);
    auto nbytes = numel ? byte_size(dtype, *numel) : std::nullopt;
    if (!nbytes) fail_tensor(name, args, "size overflows");
    tensor.nbytes = *nbytes;
    const uint64_t itemsize = info(dtype).block_bits / 8;
    if (*numel > 0) {
      // The element furthest into the storage must lie inside it (all sizes and strides >= 0).
      uint64_t last = static_cast<uint64_t>(storage_offset);
      bool overflow = false;
      for (size_t dim = 0; dim < stride.size(); ++dim) {
        uint64_t reach = 0;
        overflow |= __builtin_mul_overflow(static_cast<uint64_t>(tensor.shape[dim] - 1), static_cast<uint64_t>(stride[dim]), &reach);
        overflow |= __builtin_add_overflow(last, reach, &last);
      }
      uint64_t end_byte = 0;
      overflow |= __builtin_add_overflow(last, uint64_t{1}, &end_byte);
      overflow |= __builtin_mul_overflow(end_byte, itemsize, &end_byte);
      if (overflow || end_byte > use.bytes) {
        fail_tensor(name, args, "storage offset " + std::to_string(storage_offset) + " with its size and stride reaches " +
                                    (overflow ? std::string("past 2^64") : std::to_string(end_byte)) +
                                    " bytes, beyond the storage's " + std::to_string(use.bytes));
      }
      tensor.byte_offset = static_cast<uint64_t>(storage_offset) * itemsize;
      if (!c_contiguous(tensor.shape, stride)) tensor.strides = std::move(stride);
    }
    catalog_.tensors.push_back(std::move(tensor));
  }

  /// True when `stride` is the row-major one for `shape` (dims of size 1 may have any stride).
  static bool c_contiguous(const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
    int64_t expected = 1;
    for (size_t dim = shape.size(); dim-- > 0;) {
      if (shape[dim] != 1 && stride[dim] != expected) return false;
      expected *= shape[dim];
    }
    return true;
  }

  const io::File& file_;
  const Archive& archive_;
  const pickle::Unpickled& objects_;
  ByteOrder byte_order_;
  const Limits& limits_;
  Catalog catalog_;
  std::map<std::string, StorageUse> storages_;
  std::set<std::string> names_;
  std::unordered_map<uint32_t, std::string> entered_;  ///< containers walked, by the name first reached
  std::unordered_map<uint32_t, bool> holds_structure_;  ///< sequences scanned, by object index
  std::unordered_map<uint32_t, size_t> tensor_of_call_;  ///< rebuild calls built, to catalog_.tensors
  std::set<uint32_t> metadata_checked_;                  ///< tensor metadata dicts checked
  uint64_t name_bytes_ = 0;
  bool nested_ = false;
};

}  // namespace

Catalog read_pth(const std::string& path, const Limits& limits) {
  io::HeapBudget budget(limits);
  io::File file(path);
  if (!io::looks_like_zip(file)) refuse_non_zip(file);
  const std::vector<io::ZipMember> members = io::read_zip_directory(file, limits);
  const Archive archive = locate(path, members);
  const ByteOrder byte_order = read_byteorder(file, archive, limits);
  if (archive.data_pkl->uncompressed_size > limits.max_header_bytes) {
    fail_limit(path, io::display(archive.data_pkl->name) + ": " + std::to_string(archive.data_pkl->uncompressed_size) +
                         " bytes exceed the header cap of " + std::to_string(limits.max_header_bytes));
  }
  const std::vector<std::byte> pickle_bytes = io::read_member(file, *archive.data_pkl, limits);
  const pickle::Unpickled unpickled = pickle::unpickle(pickle_bytes, path, archive.data_pkl->name, limits);
  return Builder(file, archive, unpickled, byte_order, limits).build();
}

}  // namespace amn::formats
