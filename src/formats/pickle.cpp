// Restricted pickle VM (Python's pickle protocols 2–5, the opcodes torch.save emits), bounded in
// nesting, objects and memory. Globals resolve against a fixed allowlist to tags; REDUCE of a
// tensor rebuild function records a Call for the pth reader to interpret.
#include "formats/pickle.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "amn/error.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/cursor.hpp"

namespace amn::formats::pickle {
namespace {

/// Opcodes (Lib/pickletools.py spells out each one).
enum Op : uint8_t {
  kMark = '(', kStop = '.', kPop = '0', kPopMark = '1', kDup = '2',
  kBinInt = 'J', kBinInt1 = 'K', kBinInt2 = 'M', kNone = 'N', kBinPersId = 'Q', kReduce = 'R',
  kBinString = 'T', kShortBinString = 'U', kBinUnicode = 'X', kAppend = 'a', kBuild = 'b',
  kGlobal = 'c', kAppends = 'e', kBinGet = 'h', kLongBinGet = 'j', kBinPut = 'q', kLongBinPut = 'r',
  kSetItem = 's', kTuple = 't', kSetItems = 'u', kEmptyDict = '}', kEmptyList = ']', kEmptyTuple = ')',
  kBinFloat = 'G', kBinBytes = 'B', kShortBinBytes = 'C',
  kProto = 0x80, kNewObj = 0x81, kTuple1 = 0x85, kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88,
  kNewFalse = 0x89, kLong1 = 0x8a, kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d, kBinBytes8 = 0x8e,
  kEmptySet = 0x8f, kAddItems = 0x90, kFrozenSet = 0x91, kStackGlobal = 0x93, kMemoize = 0x94,
  kFrame = 0x95,
};

constexpr uint8_t kMaxProtocol = 5;
constexpr uint8_t kMinProtocol = 2;
constexpr size_t kMaxInlineInt = 8;        ///< LONG1 payloads up to this many bytes become Int
constexpr uint64_t kMemoEntryBytes = 64;   ///< memory charged per memo slot (hash node and bucket)
constexpr size_t kMinCapacity = 4;         ///< first capacity of a growing vector
constexpr size_t kMaxShownChars = 120;     ///< longest name quoted in a message

struct OpName {
  uint8_t code;
  const char* name;
};

/// Every opcode of pickletools, so refusals can name what they saw.
constexpr auto kOpNames = std::to_array<OpName>({
    {'I', "INT"}, {'J', "BININT"}, {'K', "BININT1"}, {'M', "BININT2"}, {'L', "LONG"}, {0x8a, "LONG1"},
    {0x8b, "LONG4"}, {'S', "STRING"}, {'T', "BINSTRING"}, {'U', "SHORT_BINSTRING"}, {'B', "BINBYTES"},
    {'C', "SHORT_BINBYTES"}, {0x8e, "BINBYTES8"}, {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"},
    {0x98, "READONLY_BUFFER"}, {'N', "NONE"}, {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {'V', "UNICODE"},
    {0x8c, "SHORT_BINUNICODE"}, {'X', "BINUNICODE"}, {0x8d, "BINUNICODE8"}, {'F', "FLOAT"},
    {'G', "BINFLOAT"}, {']', "EMPTY_LIST"}, {'a', "APPEND"}, {'e', "APPENDS"}, {'l', "LIST"},
    {')', "EMPTY_TUPLE"}, {'t', "TUPLE"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"}, {0x87, "TUPLE3"},
    {'}', "EMPTY_DICT"}, {'d', "DICT"}, {'s', "SETITEM"}, {'u', "SETITEMS"}, {0x8f, "EMPTY_SET"},
    {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {'0', "POP"}, {'2', "DUP"}, {'(', "MARK"}, {'1', "POP_MARK"},
    {'g', "GET"}, {'h', "BINGET"}, {'j', "LONG_BINGET"}, {'p', "PUT"}, {'q', "BINPUT"}, {'r', "LONG_BINPUT"},
    {0x94, "MEMOIZE"}, {0x82, "EXT1"}, {0x83, "EXT2"}, {0x84, "EXT4"}, {'c', "GLOBAL"},
    {0x93, "STACK_GLOBAL"}, {'R', "REDUCE"}, {'b', "BUILD"}, {'i', "INST"}, {'o', "OBJ"}, {0x81, "NEWOBJ"},
    {0x92, "NEWOBJ_EX"}, {0x80, "PROTO"}, {'.', "STOP"}, {0x95, "FRAME"}, {'P', "PERSID"},
    {'Q', "BINPERSID"},
});

/// Opcode names indexed by opcode byte (nullptr for bytes that are no opcode).
constexpr std::array<const char*, 256> kOpNameByCode = [] {
  std::array<const char*, 256> table{};
  for (const auto& entry : kOpNames) table[entry.code] = entry.name;
  return table;
}();

/// "NAME (0xNN)" for messages.
std::string op_label(uint8_t code) {
  char hex[8];
  std::snprintf(hex, sizeof(hex), "0x%02x", code);
  if (kOpNameByCode[code] == nullptr) return std::string("unknown opcode ") + hex;
  return std::string(kOpNameByCode[code]) + " (" + hex + ")";
}

/// One allowlisted global. `readable` false marks torch types amn knows but cannot represent
/// (quantized, complex128, fnuz float8, packed fp4): refused with a message saying so.
struct GlobalEntry {
  std::string_view path;
  Global global;
  DType dtype;
  bool readable;
};

// The allowlist: what torch.save writes for plain tensors, Parameters and state_dicts
// (torch/_weights_only_unpickler.py allows these and more). Python 3 writes `__builtin__` for
// `builtins` at protocol 2.
constexpr auto kGlobals = std::to_array<GlobalEntry>({
    {"collections.OrderedDict", Global::OrderedDict, DType::U8, true},
    {"builtins.set", Global::Set, DType::U8, true},
    {"__builtin__.set", Global::Set, DType::U8, true},
    {"builtins.frozenset", Global::FrozenSet, DType::U8, true},
    {"__builtin__.frozenset", Global::FrozenSet, DType::U8, true},
    {"_codecs.encode", Global::CodecsEncode, DType::U8, true},
    {"builtins.bytes", Global::EmptyBytes, DType::U8, true},
    {"__builtin__.bytes", Global::EmptyBytes, DType::U8, true},
    {"torch.Size", Global::TorchSize, DType::U8, true},
    {"torch._utils._rebuild_tensor", Global::RebuildTensor, DType::U8, true},
    {"torch._utils._rebuild_tensor_v2", Global::RebuildTensorV2, DType::U8, true},
    {"torch._utils._rebuild_tensor_v3", Global::RebuildTensorV3, DType::U8, true},
    {"torch._utils._rebuild_parameter", Global::RebuildParameter, DType::U8, true},
    {"torch._utils._rebuild_parameter_with_state", Global::RebuildParameterWithState, DType::U8, true},
    {"torch._tensor._rebuild_from_type_v2", Global::RebuildFromTypeV2, DType::U8, true},
    {"torch.Tensor", Global::TensorType, DType::U8, true},
    {"torch.nn.parameter.Parameter", Global::ParameterType, DType::U8, true},
    {"torch.storage.UntypedStorage", Global::UntypedStorage, DType::U8, true},
    {"torch.DoubleStorage", Global::TypedStorage, DType::F64, true},
    {"torch.FloatStorage", Global::TypedStorage, DType::F32, true},
    {"torch.HalfStorage", Global::TypedStorage, DType::F16, true},
    {"torch.BFloat16Storage", Global::TypedStorage, DType::BF16, true},
    {"torch.LongStorage", Global::TypedStorage, DType::I64, true},
    {"torch.IntStorage", Global::TypedStorage, DType::I32, true},
    {"torch.ShortStorage", Global::TypedStorage, DType::I16, true},
    {"torch.CharStorage", Global::TypedStorage, DType::I8, true},
    {"torch.ByteStorage", Global::TypedStorage, DType::U8, true},
    {"torch.BoolStorage", Global::TypedStorage, DType::BOOL, true},
    {"torch.ComplexFloatStorage", Global::TypedStorage, DType::C64, true},
    {"torch.ComplexDoubleStorage", Global::TypedStorage, DType::U8, false},
    {"torch.QInt8Storage", Global::TypedStorage, DType::U8, false},
    {"torch.QInt32Storage", Global::TypedStorage, DType::U8, false},
    {"torch.QUInt8Storage", Global::TypedStorage, DType::U8, false},
    {"torch.QUInt4x2Storage", Global::TypedStorage, DType::U8, false},
    {"torch.QUInt2x4Storage", Global::TypedStorage, DType::U8, false},
    {"torch.float8_e4m3fnuz", Global::TorchDType, DType::U8, false},
    {"torch.float8_e5m2fnuz", Global::TorchDType, DType::U8, false},
    {"torch.float4_e2m1fn_x2", Global::TorchDType, DType::U8, false},
    {"torch.complex32", Global::TorchDType, DType::U8, false},
    {"torch.complex128", Global::TorchDType, DType::U8, false},
    {"torch.float64", Global::TorchDType, DType::F64, true},
    {"torch.float32", Global::TorchDType, DType::F32, true},
    {"torch.float16", Global::TorchDType, DType::F16, true},
    {"torch.bfloat16", Global::TorchDType, DType::BF16, true},
    {"torch.int64", Global::TorchDType, DType::I64, true},
    {"torch.int32", Global::TorchDType, DType::I32, true},
    {"torch.int16", Global::TorchDType, DType::I16, true},
    {"torch.int8", Global::TorchDType, DType::I8, true},
    {"torch.uint8", Global::TorchDType, DType::U8, true},
    {"torch.uint16", Global::TorchDType, DType::U16, true},
    {"torch.uint32", Global::TorchDType, DType::U32, true},
    {"torch.uint64", Global::TorchDType, DType::U64, true},
    {"torch.bool", Global::TorchDType, DType::BOOL, true},
    {"torch.float8_e4m3fn", Global::TorchDType, DType::F8_E4M3, true},
    {"torch.float8_e5m2", Global::TorchDType, DType::F8_E5M2, true},
    {"torch.float8_e8m0fnu", Global::TorchDType, DType::F8_E8M0, true},
    {"torch.complex64", Global::TorchDType, DType::C64, true},
});

/// Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view text) {
  size_t idx = 0;
  while (idx < text.size()) {
    auto lead = static_cast<unsigned char>(text[idx]);
    if (lead < 0x80) {
      ++idx;
      continue;
    }
    size_t extra = 0;
    uint32_t code = 0;
    uint32_t min_code = 0;
    if ((lead & 0xe0) == 0xc0) {
      extra = 1, code = lead & 0x1f, min_code = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      extra = 2, code = lead & 0x0f, min_code = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      extra = 3, code = lead & 0x07, min_code = 0x10000;
    } else {
      return false;
    }
    if (text.size() - idx <= extra) return false;
    for (size_t cont = 1; cont <= extra; ++cont) {
      auto byte = static_cast<unsigned char>(text[idx + cont]);
      if ((byte & 0xc0) != 0x80) return false;
      code = (code << 6) | (byte & 0x3f);
    }
    if (code < min_code || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    idx += extra + 1;
  }
  return true;
}

uint64_t saturating_add(uint64_t lhs, uint64_t rhs) {
  return rhs > std::numeric_limits<uint64_t>::max() - lhs ? std::numeric_limits<uint64_t>::max() : lhs + rhs;
}

/// The interpreter: a value stack of object indices, a mark stack of stack heights, a memo map.
class Machine {
 public:
  Machine(std::span<const std::byte> bytes, const std::string& file, std::string_view member, const Limits& limits)
      : bytes_(bytes), cursor_(bytes, file + ": " + io::display(member)), file_(file), member_(io::display(member)),
        limits_(limits) {}

  Unpickled run() {
    while (cursor_.remaining() > 0) {
      op_offset_ = cursor_.pos();
      op_ = cursor_.read<uint8_t>("opcode");
      if (op_ == kStop) return finish();
      step();
    }
    fail_parse("no STOP opcode before the end of the pickle");
  }

 private:
  // ---- errors -------------------------------------------------------------------------------
  [[noreturn]] void fail_parse(const std::string& what) const {
    amn::fail_parse(file_, member_ + ": " + what + " (at offset " + std::to_string(op_offset_) + ")");
  }
  [[noreturn]] void fail_unsupported(const std::string& what) const {
    amn::fail_unsupported(file_, member_ + ": " + what + " (at offset " + std::to_string(op_offset_) + ")");
  }
  [[noreturn]] void fail_limit(const std::string& what) const {
    amn::fail_limit(file_, member_ + ": " + what + " (at offset " + std::to_string(op_offset_) + ")");
  }

  // ---- budgets ------------------------------------------------------------------------------
  // Every opcode does O(1) work and charges what it allocates before allocating it, except the
  // ones that move k items (TUPLE, APPENDS, SETITEMS, set(), torch.Size()), which each charge
  // per item. Vectors grow by doubling and are charged their added capacity, so the charge is
  // what they hold; transient copies of at most one container's items are not charged.

  /// Memory held by the table, the stacks and the memo, against limits.max_alloc, and against
  /// the open's heap budget (io/budget.hpp).
  void charge_bytes(uint64_t bytes) {
    memory_ = saturating_add(memory_, bytes);
    if (memory_ > limits_.max_alloc) {
      fail_limit("pickle working set exceeds " + std::to_string(limits_.max_alloc) + " bytes");
    }
    io::charge(file_, bytes, member_ + ": pickle working set");
  }
  /// Makes room for one more element in `vec`, charging the capacity a doubling adds.
  template <class Vec>
  void reserve_one(Vec& vec) {
    if (vec.size() < vec.capacity()) return;
    const size_t grown = std::max(kMinCapacity, vec.capacity() * 2);
    charge_bytes((grown - vec.capacity()) * sizeof(typename Vec::value_type));
    vec.reserve(grown);
  }
  /// Objects the pickle stands for, a shared subtree counted at each reuse, against max_items.
  void charge_objects(uint64_t weight) {
    expanded_ = saturating_add(expanded_, weight);
    if (expanded_ > limits_.max_items) {
      fail_limit("pickle expands to more than " + std::to_string(limits_.max_items) +
                 " objects (reused memo entries count each time)");
    }
  }

  // ---- objects and stacks -------------------------------------------------------------------
  uint32_t make(Kind kind) {
    charge_objects(1);
    reserve_one(objects_);
    Object object;
    object.kind = kind;
    object.offset = op_offset_;
    objects_.push_back(std::move(object));
    return static_cast<uint32_t>(objects_.size() - 1);
  }
  Object& at(uint32_t index) { return objects_[index]; }

  void push(uint32_t index) {
    reserve_one(stack_);
    stack_.push_back(index);
  }
  void push_new(Kind kind) { push(make(kind)); }

  /// Height below which the current MARK hides the stack.
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

  void need_stack(size_t count) const {
    if (stack_.size() - floor() < count) {
      fail_parse(op_label(op_) + " needs " + std::to_string(count) + " stack item(s), found " +
                 std::to_string(stack_.size() - floor()) + " (stack underflow)");
    }
  }
  uint32_t pop() {
    need_stack(1);
    uint32_t index = stack_.back();
    stack_.pop_back();
    return index;
  }
  uint32_t top() {
    need_stack(1);
    return stack_.back();
  }
  /// Closes the innermost MARK; returns the stack height where its items begin.
  size_t close_mark() {
    if (marks_.empty()) fail_parse(op_label(op_) + " without a MARK");
    size_t begin = marks_.back();
    marks_.pop_back();
    return begin;
  }

  /// Closes the innermost MARK and pops the items above it.
  std::vector<uint32_t> take_marked() {
    size_t begin = close_mark();
    std::vector<uint32_t> values(stack_.begin() + static_cast<std::ptrdiff_t>(begin), stack_.end());
    stack_.resize(begin);
    return values;
  }

  /// Appends `child` to container `parent`, keeping depth and weight current.
  void add_child(uint32_t parent, uint32_t child) {
    uint32_t child_depth = at(child).depth;
    uint64_t child_weight = at(child).weight;
    Object& container = at(parent);
    reserve_one(container.items);
    container.items.push_back(child);
    container.weight = saturating_add(container.weight, child_weight);
    if (child_depth + 1 > container.depth) {
      container.depth = child_depth + 1;
      if (container.depth > limits_.max_depth) {
        fail_limit("objects nested deeper than " + std::to_string(limits_.max_depth) + " levels");
      }
    }
  }
  /// A new container of `kind` holding `values`.
  uint32_t collect(Kind kind, const std::vector<uint32_t>& values) {
    uint32_t container = make(kind);
    for (uint32_t value : values) add_child(container, value);
    return container;
  }
  /// The container the current op adds to (below the values it took), checked to be `kind`.
  uint32_t target(Kind kind, const char* what) {
    uint32_t index = top();
    if (at(index).kind != kind) {
      fail_parse(op_label(op_) + " on a " + kind_name(at(index).kind) + " (only " + what + " take it)");
    }
    return index;
  }

  // ---- operand readers ----------------------------------------------------------------------
  template <class T>
  T arg() {
    return cursor_.read<T>(op_name());
  }
  const char* op_name() const { return kOpNameByCode[op_] != nullptr ? kOpNameByCode[op_] : "opcode"; }
  /// `length` bytes of a string operand, checked against what remains before anything is copied.
  std::string_view payload(uint64_t length) {
    if (length > cursor_.remaining()) {
      fail_parse(op_label(op_) + " length " + std::to_string(length) + " exceeds the " +
                 std::to_string(cursor_.remaining()) + " bytes that remain");
    }
    if (length > limits_.max_string) {
      fail_limit(op_label(op_) + " length " + std::to_string(length) + " exceeds the string cap of " +
                 std::to_string(limits_.max_string));
    }
    return cursor_.take_string(length, op_name());
  }
  /// A newline-terminated GLOBAL operand line (module or name), at most limits.max_name bytes.
  std::string_view line() {
    const uint64_t window = std::min<uint64_t>(cursor_.remaining(), uint64_t{limits_.max_name} + 1);
    const char* start = reinterpret_cast<const char*>(bytes_.data()) + cursor_.pos();
    const void* newline = std::memchr(start, '\n', window);
    if (newline == nullptr) {
      fail_parse("GLOBAL operand is not a newline-terminated line of at most " + std::to_string(limits_.max_name) +
                 " bytes");
    }
    auto text = cursor_.take_string(static_cast<const char*>(newline) - start, "GLOBAL");
    cursor_.skip(1, "GLOBAL");
    return text;
  }

  // ---- values -------------------------------------------------------------------------------
  void push_int(int64_t value) {
    push_new(Kind::Int);
    at(stack_.back()).integer = value;
  }
  void push_text(Kind kind, std::string_view text) {
    charge_bytes(text.size());
    push_new(kind);
    at(stack_.back()).text.assign(text);
  }
  void push_unicode(uint64_t length) {
    auto text = payload(length);
    if (!valid_utf8(text)) fail_parse(op_label(op_) + " string is not valid UTF-8");
    push_text(Kind::Str, text);
  }
  void push_ascii(uint64_t length) {
    auto text = payload(length);
    for (char ch : text) {
      if (static_cast<unsigned char>(ch) >= 0x80) fail_parse(op_label(op_) + " string is not ASCII");
    }
    push_text(Kind::Str, text);
  }
  void push_long1() {
    auto length = arg<uint8_t>();
    auto bytes = payload(length);
    if (length > kMaxInlineInt) {
      push_text(Kind::BigInt, bytes);
      return;
    }
    uint64_t value = 0;
    for (size_t idx = 0; idx < length; ++idx) value |= uint64_t{static_cast<unsigned char>(bytes[idx])} << (8 * idx);
    if (length > 0 && length < kMaxInlineInt && (static_cast<unsigned char>(bytes[length - 1]) & 0x80) != 0) {
      value |= ~uint64_t{0} << (8 * length);  // sign-extend
    }
    push_int(static_cast<int64_t>(value));
  }
  void push_float() {
    auto raw = arg<uint64_t>();
    if constexpr (std::endian::native == std::endian::little) raw = __builtin_bswap64(raw);  // stored big-endian
    push_new(Kind::Float);
    at(stack_.back()).real = std::bit_cast<double>(raw);
  }

  // ---- memo ---------------------------------------------------------------------------------
  void memo_put(uint64_t slot) {
    uint32_t value = top();
    auto [where, inserted] = memo_.insert_or_assign(slot, value);
    (void)where;
    if (inserted) charge_bytes(kMemoEntryBytes);
  }
  void memo_get(uint64_t slot) {
    auto found = memo_.find(slot);
    if (found == memo_.end()) fail_parse(op_label(op_) + " of memo slot " + std::to_string(slot) + ", which was never set");
    reuse(found->second);
  }
  /// Pushes an existing object again (BINGET, DUP), charging its whole subtree.
  void reuse(uint32_t index) {
    charge_objects(at(index).weight);
    push(index);
  }

  // ---- globals and calls --------------------------------------------------------------------
  void push_global(std::string_view module, std::string_view name) {
    std::string path = std::string(module) + "." + std::string(name);
    for (const auto& entry : kGlobals) {
      if (entry.path != path) continue;
      if (!entry.readable) fail_unsupported("global " + io::quoted(path, kMaxShownChars) + " is a torch type amn does not read");
      push_text(Kind::Global, path);
      at(stack_.back()).global = entry.global;
      at(stack_.back()).dtype = entry.dtype;
      return;
    }
    fail_unsupported("global " + io::quoted(path, kMaxShownChars) + " is not allowed (only torch tensor rebuild functions, storage types, "
                     "dtypes and containers are)");
  }

  /// The object `callable(*args)` stands for (REDUCE, NEWOBJ); only allowlisted globals.
  uint32_t apply(uint32_t callable, uint32_t args) {
    if (at(callable).kind != Kind::Global) {
      fail_parse(op_label(op_) + " of a " + kind_name(at(callable).kind) + " (only allowlisted globals are callable)");
    }
    if (at(args).kind != Kind::Tuple) {
      fail_parse(op_label(op_) + " arguments are a " + std::string(kind_name(at(args).kind)) + ", expected a tuple");
    }
    const Global global = at(callable).global;
    const std::string path = at(callable).text;
    const std::vector<uint32_t> arg_items = at(args).items;
    if (is_rebuild_function(global)) {
      uint32_t call = make(Kind::Call);
      at(call).global = global;
      at(call).text = path;
      add_child(call, args);
      return call;
    }
    switch (global) {
      case Global::OrderedDict: {
        if (!arg_items.empty()) fail_unsupported(path + " with arguments is not supported");
        uint32_t dict = make(Kind::Dict);
        at(dict).ordered = true;
        return dict;
      }
      case Global::Set:
      case Global::FrozenSet: {
        uint32_t set = make(Kind::Set);
        if (arg_items.empty()) return set;
        Kind source = at(arg_items[0]).kind;
        if (arg_items.size() != 1 || (source != Kind::List && source != Kind::Tuple)) {
          fail_parse(path + " takes one list or tuple");
        }
        const std::vector<uint32_t> elements = at(arg_items[0]).items;
        for (uint32_t element : elements) {
          charge_objects(at(element).weight);
          add_child(set, element);
        }
        return set;
      }
      case Global::CodecsEncode: return encode_latin1(path, arg_items);
      case Global::EmptyBytes:
        if (!arg_items.empty()) fail_unsupported(path + " with arguments is not supported");
        return make(Kind::Bytes);
      case Global::TorchSize: {
        if (arg_items.size() != 1 || at(arg_items[0]).kind != Kind::Tuple) fail_parse(path + " takes one tuple");
        uint32_t tuple = make(Kind::Tuple);
        const std::vector<uint32_t> dims = at(arg_items[0]).items;
        for (uint32_t dim : dims) {
          charge_objects(at(dim).weight);
          add_child(tuple, dim);
        }
        return tuple;
      }
      default: fail_unsupported(op_label(op_) + " of " + io::quoted(path, kMaxShownChars) + " is not supported");
    }
  }
  /// `_codecs.encode(text, 'latin1')`: protocol 2's spelling of a bytes object.
  uint32_t encode_latin1(const std::string& path, const std::vector<uint32_t>& arg_items) {
    if (arg_items.size() != 2 || at(arg_items[0]).kind != Kind::Str || at(arg_items[1]).kind != Kind::Str ||
        (at(arg_items[1]).text != "latin1" && at(arg_items[1]).text != "latin-1")) {
      fail_unsupported(path + " is only supported as encode(str, 'latin1')");
    }
    const std::string text = at(arg_items[0]).text;  // valid UTF-8, checked when read
    std::string bytes;
    for (size_t idx = 0; idx < text.size(); ++idx) {
      auto lead = static_cast<unsigned char>(text[idx]);
      if (lead < 0x80) {
        bytes += static_cast<char>(lead);
      } else if (lead == 0xc2 || lead == 0xc3) {
        bytes += static_cast<char>(((lead & 0x03) << 6) | (static_cast<unsigned char>(text[++idx]) & 0x3f));
      } else {
        fail_parse(path + ": a character above U+00FF cannot be latin1-encoded");
      }
    }
    charge_bytes(bytes.size());
    uint32_t result = make(Kind::Bytes);
    at(result).text = std::move(bytes);
    return result;
  }

  // ---- the loop -----------------------------------------------------------------------------
  Unpickled finish() {
    if (!marks_.empty()) fail_parse("STOP with an unclosed MARK");
    if (stack_.size() != 1) {
      fail_parse("STOP with " + std::to_string(stack_.size()) + " stack items (expected exactly one)");
    }
    if (cursor_.remaining() != 0) {
      fail_parse(std::to_string(cursor_.remaining()) + " bytes of data after STOP");
    }
    return Unpickled{std::move(objects_), stack_.back()};
  }

  void step() {
    switch (op_) {
      case kProto: {
        auto protocol = arg<uint8_t>();
        if (protocol < kMinProtocol || protocol > kMaxProtocol) {
          fail_unsupported("pickle protocol " + std::to_string(protocol) + " is not supported (2 to 5 are)");
        }
        return;
      }
      case kFrame: {
        auto length = arg<uint64_t>();
        if (length > cursor_.remaining()) {
          fail_parse("FRAME length " + std::to_string(length) + " exceeds the bytes that remain");
        }
        return;
      }
      case kMark:
        if (marks_.size() >= limits_.max_depth) {
          fail_limit("more than " + std::to_string(limits_.max_depth) + " open MARKs");
        }
        reserve_one(marks_);
        marks_.push_back(stack_.size());
        return;
      case kPop: (void)pop(); return;
      case kPopMark: (void)take_marked(); return;
      case kDup: reuse(top()); return;

      case kNone: push_new(Kind::None); return;
      case kNewTrue:
      case kNewFalse:
        push_new(Kind::Bool);
        at(stack_.back()).integer = op_ == kNewTrue ? 1 : 0;
        return;
      case kBinInt: push_int(arg<int32_t>()); return;
      case kBinInt1: push_int(arg<uint8_t>()); return;
      case kBinInt2: push_int(arg<uint16_t>()); return;
      case kLong1: push_long1(); return;
      case kBinFloat: push_float(); return;

      case kShortBinUnicode: push_unicode(arg<uint8_t>()); return;
      case kBinUnicode: push_unicode(arg<uint32_t>()); return;
      case kBinUnicode8: push_unicode(arg<uint64_t>()); return;
      case kShortBinString: push_ascii(arg<uint8_t>()); return;
      case kBinString: {
        auto length = arg<int32_t>();
        if (length < 0) fail_parse("BINSTRING length is negative");
        push_ascii(static_cast<uint64_t>(length));
        return;
      }
      case kShortBinBytes: push_text(Kind::Bytes, payload(arg<uint8_t>())); return;
      case kBinBytes: push_text(Kind::Bytes, payload(arg<uint32_t>())); return;
      case kBinBytes8: push_text(Kind::Bytes, payload(arg<uint64_t>())); return;

      case kEmptyTuple: push_new(Kind::Tuple); return;
      case kEmptyList: push_new(Kind::List); return;
      case kEmptyDict: push_new(Kind::Dict); return;
      case kEmptySet: push_new(Kind::Set); return;
      case kTuple: push(collect(Kind::Tuple, take_marked())); return;
      case kTuple1:
      case kTuple2:
      case kTuple3: {
        size_t count = op_ - kTuple1 + 1;
        need_stack(count);
        const std::vector<uint32_t> values(stack_.end() - static_cast<std::ptrdiff_t>(count), stack_.end());
        stack_.resize(stack_.size() - count);
        push(collect(Kind::Tuple, values));
        return;
      }
      case kFrozenSet: push(collect(Kind::Set, take_marked())); return;

      case kAppend: {
        uint32_t item = pop();
        add_child(target(Kind::List, "lists"), item);
        return;
      }
      case kAppends:
      case kAddItems: {
        const std::vector<uint32_t> values = take_marked();
        uint32_t container = op_ == kAppends ? target(Kind::List, "lists") : target(Kind::Set, "sets");
        for (uint32_t value : values) add_child(container, value);
        return;
      }
      case kSetItem: {
        uint32_t value = pop();
        uint32_t key = pop();
        uint32_t dict = target(Kind::Dict, "dicts");
        add_child(dict, key);
        add_child(dict, value);
        return;
      }
      case kSetItems: {
        const std::vector<uint32_t> pairs = take_marked();
        if (pairs.size() % 2 != 0) fail_parse("SETITEMS with an odd number of items");
        uint32_t dict = target(Kind::Dict, "dicts");
        for (uint32_t value : pairs) add_child(dict, value);
        return;
      }

      case kBinPut: memo_put(arg<uint8_t>()); return;
      case kLongBinPut: memo_put(arg<uint32_t>()); return;
      case kMemoize: memo_put(memo_.size()); return;
      case kBinGet: memo_get(arg<uint8_t>()); return;
      case kLongBinGet: memo_get(arg<uint32_t>()); return;

      case kGlobal: {
        auto module = line();
        auto name = line();
        push_global(module, name);
        return;
      }
      case kStackGlobal: {
        uint32_t name = pop();
        uint32_t module = pop();
        if (at(name).kind != Kind::Str || at(module).kind != Kind::Str) {
          fail_parse("STACK_GLOBAL needs two strings");
        }
        push_global(at(module).text, at(name).text);
        return;
      }
      case kReduce:
      case kNewObj: {
        uint32_t args = pop();
        uint32_t callable = top();
        stack_.back() = apply(callable, args);
        return;
      }
      case kBuild: {
        uint32_t state = pop();
        (void)state;  // OrderedDict attributes and tensor Python state carry no tensor data
        const Object& instance = at(top());
        if (!(instance.kind == Kind::Dict && instance.ordered) && instance.kind != Kind::Call) {
          fail_parse(std::string("BUILD on a ") + kind_name(instance.kind) + " (only OrderedDict and tensors take state)");
        }
        return;
      }
      case kBinPersId: {
        uint32_t id = pop();
        uint32_t reference = make(Kind::PersistentId);
        add_child(reference, id);
        push(reference);
        return;
      }
      default: fail_unsupported("opcode " + op_label(op_) + " is not supported");
    }
  }

  std::span<const std::byte> bytes_;
  io::Cursor cursor_;
  std::string file_;
  std::string member_;
  const Limits& limits_;
  std::vector<Object> objects_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  uint64_t memory_ = 0;
  uint64_t expanded_ = 0;
  uint64_t op_offset_ = 0;
  uint8_t op_ = 0;
};

}  // namespace

bool is_rebuild_function(Global global) {
  switch (global) {
    case Global::RebuildTensor:
    case Global::RebuildTensorV2:
    case Global::RebuildTensorV3:
    case Global::RebuildParameter:
    case Global::RebuildParameterWithState:
    case Global::RebuildFromTypeV2: return true;
    default: return false;
  }
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int:
    case Kind::BigInt: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Set: return "set";
    case Kind::Global: return "global";
    case Kind::PersistentId: return "persistent id";
    case Kind::Call: return "call";
  }
  return "?";
}

Unpickled unpickle(std::span<const std::byte> bytes, const std::string& file, std::string_view member,
                   const Limits& limits) {
  io::HeapBudget budget(limits);
  return Machine(bytes, file, member, limits).run();
}

}  // namespace amn::formats::pickle
