// Restricted pickle VM for PyTorch `data.pkl`: protocols 2–5, allowlisted globals only. It builds
// a flat table of objects linked by index; nothing is ever imported or called.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amn/dtype.hpp"
#include "amn/limits.hpp"

namespace amn::formats::pickle {

/// What an object in the table is.
enum class Kind : uint8_t {
  None,
  Bool,          ///< `integer` is 0 or 1
  Int,           ///< `integer`
  BigInt,        ///< an int wider than 64 bits: `text` holds its little-endian two's complement bytes
  Float,         ///< `real`
  Str,           ///< `text`, valid UTF-8
  Bytes,         ///< `text`, raw bytes
  Tuple,         ///< `items`
  List,          ///< `items`
  Dict,          ///< `items` holds key, value, key, value... in insertion order
  Set,           ///< `items` (set or frozenset), as pickled
  Global,        ///< an allowlisted global, see `global` (and `dtype` for storage types and dtypes)
  PersistentId,  ///< BINPERSID: `items[0]` is the id object (torch: a storage reference tuple)
  Call,          ///< REDUCE/NEWOBJ of a tensor rebuild function `global`: `items[0]` is the args tuple
};

/// The globals a torch checkpoint may name. Any other `module.name` is refused.
enum class Global : uint8_t {
  None,
  OrderedDict,                ///< collections.OrderedDict: REDUCE builds an ordered Dict
  Set,                        ///< builtins.set: REDUCE builds a Set
  FrozenSet,                  ///< builtins.frozenset: REDUCE builds a Set
  CodecsEncode,               ///< _codecs.encode(str, 'latin1'): REDUCE builds Bytes (protocol 2 bytes)
  EmptyBytes,                 ///< builtins.bytes(): protocol 2's empty bytes
  TorchSize,                  ///< torch.Size: REDUCE builds a Tuple
  RebuildTensor,              ///< torch._utils._rebuild_tensor
  RebuildTensorV2,            ///< torch._utils._rebuild_tensor_v2
  RebuildTensorV3,            ///< torch._utils._rebuild_tensor_v3
  RebuildParameter,           ///< torch._utils._rebuild_parameter
  RebuildParameterWithState,  ///< torch._utils._rebuild_parameter_with_state
  RebuildFromTypeV2,          ///< torch._tensor._rebuild_from_type_v2
  TensorType,                 ///< torch.Tensor (as a type argument only)
  ParameterType,              ///< torch.nn.parameter.Parameter (as a type argument only)
  TypedStorage,               ///< a legacy typed storage class (torch.FloatStorage): `dtype` says which
  UntypedStorage,             ///< torch.storage.UntypedStorage: bytes, the dtype comes with the tensor
  TorchDType,                 ///< a torch dtype (torch.float8_e4m3fn): `dtype` says which
};

/// True for the globals that REDUCE turns into a Call (the tensor rebuild functions).
[[nodiscard]] bool is_rebuild_function(Global global);

/// One object. Children are indices into the same table, so the table is freed without recursion.
/// `depth` and `weight` are exact for objects whose children stopped growing before they were
/// added (all that CPython's pickler emits, except recursive structures); a container filled
/// after it was nested leaves its parents' values low, so consumers bound their own walks too.
struct Object {
  Kind kind = Kind::None;
  Global global = Global::None;  ///< Global, Call
  DType dtype = DType::U8;       ///< Global TypedStorage / TorchDType
  bool ordered = false;          ///< Dict built by collections.OrderedDict
  uint32_t depth = 1;            ///< nesting depth (1 for a leaf)
  uint64_t offset = 0;           ///< offset in the pickle of the opcode that built it
  uint64_t weight = 1;           ///< objects reachable through it, shared children counted each time
  int64_t integer = 0;           ///< Int, Bool
  double real = 0;               ///< Float
  std::string text;              ///< Str, Bytes, BigInt; Global: "module.name"
  std::vector<uint32_t> items;   ///< children, see Kind
};

/// The result of running a pickle: the object table and the index of the object STOP returned.
struct Unpickled {
  std::vector<Object> objects;
  uint32_t root = 0;

  [[nodiscard]] const Object& at(uint32_t index) const { return objects[index]; }
  [[nodiscard]] const Object& root_object() const { return objects[root]; }
};

/// Runs the pickle in `bytes` (the member `member` of `file`, named in errors). Refuses
/// opcodes outside the supported set and globals outside the allowlist (Error(Unsupported)),
/// malformed streams (Error(Parse)), and streams whose nesting exceeds limits.max_depth, whose
/// objects (shared subtrees counted at each reuse) exceed limits.max_items or whose memory
/// exceeds limits.max_alloc (Error(Limit)). Messages name the opcode and its offset.
[[nodiscard]] Unpickled unpickle(std::span<const std::byte> bytes, const std::string& file, std::string_view member,
                                 const Limits& limits);

/// Short lower-case name of a kind ("dict", "int", ...), for messages.
[[nodiscard]] const char* kind_name(Kind kind);

}  // namespace amn::formats::pickle
