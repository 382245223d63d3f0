// Covers the restricted pickle VM (Python pickle protocols 2-5, Lib/pickletools.py opcodes) and
// shared/docs/hostile-inputs.md cases 47-55: CPython-made pickles (test/fixtures/pickle/cases.tsv,
// from test/fixtures/gen/gen_pickle.py) must rebuild to what pickle.loads gave; hand-made
// streams must be refused with the right code and message.
#include <doctest/doctest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "amn/error.hpp"
#include "formats/pickle.hpp"

namespace fs = std::filesystem;
using namespace std::string_literals;
using amn::formats::pickle::Global;
using amn::formats::pickle::Kind;
using amn::formats::pickle::Object;
using amn::formats::pickle::Unpickled;

namespace {

amn::Limits default_limits() { return amn::Limits{}; }

Unpickled run(const std::string& stream, const amn::Limits& limits = default_limits()) {
  auto bytes = std::as_bytes(std::span(stream.data(), stream.size()));
  return amn::formats::pickle::unpickle(bytes, "t.pth", "archive/data.pkl", limits);
}

/// Runs `stream`, expecting an amn::Error of `code` whose message holds `fragment`.
void refuses(const std::string& stream, amn::ErrorCode code, const std::string& fragment,
             const amn::Limits& limits = default_limits()) {
  CAPTURE(fragment);
  try {
    (void)run(stream, limits);
    FAIL("accepted");
  } catch (const amn::Error& error) {
    std::string message = error.what();
    CAPTURE(message);
    CHECK(error.code() == code);
    CHECK(message.find("t.pth: archive/data.pkl: ") == 0);
    CHECK(message.find(fragment) != std::string::npos);
  }
}

std::string escaped(const std::string& bytes) {
  std::string out;
  for (unsigned char byte : bytes) {
    if (byte >= 0x20 && byte < 0x7f && byte != '\'' && byte != '\\') {
      out += static_cast<char>(byte);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", byte);
      out += hex;
    }
  }
  return out;
}

/// The canonical rendering gen_pickle.py documents.
std::string render(const Unpickled& table, uint32_t index) {
  const Object& object = table.at(index);
  auto join = [&](const char* open, const char* close, size_t step) {
    std::string out = open;
    for (size_t pos = 0; pos < object.items.size(); pos += step) {
      if (pos > 0) out += ", ";
      out += render(table, object.items[pos]);
      if (step == 2) out += ": " + render(table, object.items[pos + 1]);
    }
    return out + close;
  };
  switch (object.kind) {
    case Kind::None: return "None";
    case Kind::Bool: return object.integer != 0 ? "True" : "False";
    case Kind::Int: return std::to_string(object.integer);
    case Kind::BigInt: {
      std::string hex = "long:";
      for (unsigned char byte : object.text) {
        char digits[4];
        std::snprintf(digits, sizeof(digits), "%02x", byte);
        hex += digits;
      }
      return hex;
    }
    case Kind::Float: {
      char digits[24];
      std::snprintf(digits, sizeof(digits), "f:%016llx",
                    static_cast<unsigned long long>(std::bit_cast<uint64_t>(object.real)));
      return digits;
    }
    case Kind::Str: return std::string("'").append(escaped(object.text)).append("'");
    case Kind::Bytes: return std::string("b'").append(escaped(object.text)).append("'");
    case Kind::Tuple: return join("(", ")", 1);
    case Kind::List: return join("[", "]", 1);
    case Kind::Dict: return object.ordered ? join("OrderedDict{", "}", 2) : join("{", "}", 2);
    case Kind::Set: return join("set{", "}", 1);
    default: return std::string("<").append(amn::formats::pickle::kind_name(object.kind)).append(">");
  }
}

std::string u32(uint32_t value) {
  std::string out(4, '\0');
  std::memcpy(out.data(), &value, 4);
  return out;
}

std::string u64(uint64_t value) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &value, 8);
  return out;
}

const std::string kProto2 = "\x80\x02"s;

}  // namespace

TEST_CASE("pickle: CPython pickles at protocols 2-5 rebuild to what pickle.loads gave") {
  std::ifstream cases(fs::path(AMN_SOURCE_DIR) / "test" / "fixtures" / "pickle" / "cases.tsv");
  REQUIRE(cases);
  std::string line;
  size_t count = 0;
  while (std::getline(cases, line)) {
    std::istringstream fields(line);
    std::string name, protocol, hex, expected;
    std::getline(fields, name, '\t');
    std::getline(fields, protocol, '\t');
    std::getline(fields, hex, '\t');
    std::getline(fields, expected);
    std::string stream;
    for (size_t pos = 0; pos + 1 < hex.size(); pos += 2) stream += static_cast<char>(std::stoi(hex.substr(pos, 2), nullptr, 16));
    CAPTURE(name);
    CAPTURE(protocol);
    Unpickled table = run(stream);
    CHECK(render(table, table.root) == expected);
    ++count;
  }
  CHECK(count == 44);
}

TEST_CASE("pickle: torch globals resolve to tags, REDUCE of a rebuild function is a Call") {
  // _rebuild_tensor_v2((persid ('storage', torch.FloatStorage, '0', 'cpu', 4)), 0, (4,), (1,), False, OrderedDict())
  std::string stream = kProto2 + "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"s +
                       "ctorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQ"s +
                       "K\x00K\x04\x85K\x01\x85\x89" "ccollections\nOrderedDict\n)RtR."s;
  Unpickled table = run(stream);
  const Object& call = table.root_object();
  REQUIRE(call.kind == Kind::Call);
  CHECK(call.global == Global::RebuildTensorV2);
  const Object& args = table.at(call.items[0]);
  REQUIRE(args.items.size() == 6);
  const Object& reference = table.at(args.items[0]);
  REQUIRE(reference.kind == Kind::PersistentId);
  const Object& pid = table.at(reference.items[0]);
  REQUIRE(pid.items.size() == 5);
  CHECK(table.at(pid.items[1]).global == Global::TypedStorage);
  CHECK(table.at(pid.items[1]).dtype == amn::DType::F32);
  CHECK(table.at(args.items[5]).kind == Kind::Dict);
  CHECK(table.at(args.items[5]).ordered);

  Unpickled dtype = run("\x80\x04\x8c\x05torch\x8c\x0d" "float8_e4m3fn\x93."s);
  CHECK(dtype.root_object().global == Global::TorchDType);
  CHECK(dtype.root_object().dtype == amn::DType::F8_E4M3);
}

TEST_CASE("pickle: legal corner cases") {
  // LONG_BINPUT 2^32-1 then LONG_BINGET of it: the memo is a map
  Unpickled memo = run(kProto2 + "K\x07r"s + u32(0xffffffffu) + "0j"s + u32(0xffffffffu) + "."s);
  CHECK(memo.root_object().integer == 7);
  // DUP, POP, POP_MARK
  Unpickled stack = run(kProto2 + "K\x01\x32\x86(K\x02K\x03\x31N0."s);
  CHECK(render(stack, stack.root) == "(1, 1)");
  // BINUNICODE8 / BINBYTES8 / SHORT_BINSTRING / BINSTRING with small lengths
  Unpickled strings = run("\x80\x05(\x8d"s + u64(2) + "hi\x8e"s + u64(1) + "\xffU\x02okT"s + u32(3) + "abct."s);
  CHECK(render(strings, strings.root) == "('hi', b'\\xff', 'ok', 'abc')");
  // NEWOBJ of OrderedDict, then BUILD with its attribute state
  Unpickled ordered = run(kProto2 + "ccollections\nOrderedDict\n)\x81X\x01\x00\x00\x00kK\x01s}b."s);
  CHECK(render(ordered, ordered.root) == "OrderedDict{'k': 1}");
  // _codecs.encode(str, 'latin1'): protocol 2's bytes
  Unpickled bytes = run(kProto2 + "c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x06\x00\x00\x00latin1\x86R."s);
  CHECK(render(bytes, bytes.root) == "b'\\xff'");
  // torch.Size(tuple) is a tuple
  Unpickled size = run(kProto2 + "ctorch\nSize\nK\x02K\x03\x86\x85R."s);
  CHECK(render(size, size.root) == "(2, 3)");
  // LONG1 with 8 bytes is still an int; sign extension of short payloads
  Unpickled longs = run(kProto2 + "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x8a\x01\xff\x8a\x00\x87."s);
  CHECK(render(longs, longs.root) == "(-9223372036854775808, -1, 0)");
}

TEST_CASE("pickle: globals outside the allowlist are refused by name (case 47)") {
  refuses(kProto2 + "cposix\nsystem\nX\x02\x00\x00\x00id\x85R."s, amn::ErrorCode::Unsupported,
          "global 'posix.system' is not allowed");
  refuses(kProto2 + "cposix\nsystem\n."s, amn::ErrorCode::Unsupported, "(at offset 2)");
  refuses(kProto2 + "c__builtin__\neval\n."s, amn::ErrorCode::Unsupported, "'__builtin__.eval' is not allowed");
  refuses("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93."s, amn::ErrorCode::Unsupported, "'builtins.eval' is not allowed");
  refuses(kProto2 + "ctorch\nload\n."s, amn::ErrorCode::Unsupported, "'torch.load' is not allowed");
  refuses(kProto2 + "ctorch\nQInt8Storage\n."s, amn::ErrorCode::Unsupported, "'torch.QInt8Storage' is a torch type amn does not read");
  refuses(kProto2 + "ctorch\nFloatStorage\n)R."s, amn::ErrorCode::Unsupported, "REDUCE (0x52) of 'torch.FloatStorage' is not supported");
  refuses(kProto2 + "c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00utf8\x86R."s, amn::ErrorCode::Unsupported,
          "encode(str, 'latin1')");
  refuses(kProto2 + "c_codecs\nencode\nX\x03\x00\x00\x00\xe6\x97\xa5X\x06\x00\x00\x00latin1\x86R."s, amn::ErrorCode::Parse,
          "above U+00FF");
  refuses(kProto2 + "ctorch\n" + std::string(5000, 'x') + "\n."s, amn::ErrorCode::Parse, "newline-terminated");
  refuses(kProto2 + "]K\x01\x85R."s, amn::ErrorCode::Parse, "REDUCE (0x52) of a list");
  refuses(kProto2 + "ccollections\nOrderedDict\nK\x01R."s, amn::ErrorCode::Parse, "arguments are a int, expected a tuple");
}

TEST_CASE("pickle: opcodes outside the supported set are refused by name and offset (case 48)") {
  refuses(kProto2 + "(iposix\nsystem\n."s, amn::ErrorCode::Unsupported, "opcode INST (0x69) is not supported (at offset 3)");
  refuses(kProto2 + "(o."s, amn::ErrorCode::Unsupported, "opcode OBJ (0x6f)");
  refuses(kProto2 + "\x82\x01."s, amn::ErrorCode::Unsupported, "opcode EXT1 (0x82)");
  refuses(kProto2 + "\x83\x01\x00."s, amn::ErrorCode::Unsupported, "opcode EXT2 (0x83)");
  refuses(kProto2 + "\x84\x01\x00\x00\x00."s, amn::ErrorCode::Unsupported, "opcode EXT4 (0x84)");
  refuses("\x80\x04)}\x92."s, amn::ErrorCode::Unsupported, "opcode NEWOBJ_EX (0x92)");
  refuses(kProto2 + "P0\n."s, amn::ErrorCode::Unsupported, "opcode PERSID (0x50)");
  refuses(kProto2 + "Np0\n."s, amn::ErrorCode::Unsupported, "opcode PUT (0x70)");
  refuses(kProto2 + "g0\n."s, amn::ErrorCode::Unsupported, "opcode GET (0x67)");
  refuses(kProto2 + "\x8b\x01\x00\x00\x00\x01."s, amn::ErrorCode::Unsupported, "opcode LONG4 (0x8b)");
  refuses(kProto2 + "I1\n."s, amn::ErrorCode::Unsupported, "opcode INT (0x49)");
  refuses(kProto2 + "\xff."s, amn::ErrorCode::Unsupported, "unknown opcode 0xff");
}

TEST_CASE("pickle: containers and stack misuse (cases 49, 50)") {
  refuses(kProto2 + "]K\x01K\x02s."s, amn::ErrorCode::Parse, "SETITEM (0x73) on a list (only dicts take it)");
  refuses(kProto2 + "}K\x01" "a."s, amn::ErrorCode::Parse, "APPEND (0x61) on a dict (only lists take it)");
  refuses(kProto2 + ")(K\x01" "e."s, amn::ErrorCode::Parse, "APPENDS (0x65) on a tuple");
  refuses("\x80\x04](K\x01\x90."s, amn::ErrorCode::Parse, "ADDITEMS (0x90) on a list");
  refuses(kProto2 + "](K\x01K\x02u."s, amn::ErrorCode::Parse, "SETITEMS (0x75) on a list");
  refuses(kProto2 + "}(K\x01u."s, amn::ErrorCode::Parse, "SETITEMS with an odd number of items");
  refuses(kProto2 + "]NNb."s, amn::ErrorCode::Parse, "BUILD on a None");
  refuses(kProto2 + "a."s, amn::ErrorCode::Parse, "APPEND (0x61) needs 1 stack item(s), found 0 (stack underflow)");
  refuses(kProto2 + "](a."s, amn::ErrorCode::Parse, "stack underflow");  // the MARK hides the list
  refuses(kProto2 + "K\x01\x86."s, amn::ErrorCode::Parse, "TUPLE2 (0x86) needs 2 stack item(s), found 1");
  refuses(kProto2 + "K\x01t."s, amn::ErrorCode::Parse, "TUPLE (0x74) without a MARK");
  refuses(kProto2 + "\x31."s, amn::ErrorCode::Parse, "POP_MARK (0x31) without a MARK");
  refuses(kProto2 + "(N."s, amn::ErrorCode::Parse, "STOP with an unclosed MARK");
  refuses(kProto2 + "."s, amn::ErrorCode::Parse, "STOP with 0 stack items");
  refuses(kProto2 + "NN."s, amn::ErrorCode::Parse, "STOP with 2 stack items");
  refuses(kProto2 + "0."s, amn::ErrorCode::Parse, "POP (0x30) needs 1 stack item(s)");
  refuses(kProto2 + "\x93."s, amn::ErrorCode::Parse, "STACK_GLOBAL (0x93) needs 1 stack item(s)");
  refuses("\x80\x04K\x01K\x02\x93."s, amn::ErrorCode::Parse, "STACK_GLOBAL needs two strings");
}

TEST_CASE("pickle: memo misuse and expansion (cases 51, 52)") {
  refuses(kProto2 + "h\x05."s, amn::ErrorCode::Parse, "BINGET (0x68) of memo slot 5, which was never set (at offset 2)");
  refuses(kProto2 + "j"s + u32(0xffffffffu) + "."s, amn::ErrorCode::Parse, "memo slot 4294967295, which was never set");
  refuses(kProto2 + "q\x00."s, amn::ErrorCode::Parse, "BINPUT (0x71) needs 1 stack item(s)");

  // Billion laughs: each level is a list holding the previous level ten times through BINGET.
  std::string laughs = kProto2 + "]q\x00" "0"s;
  for (int level = 1; level < 12; ++level) {
    laughs += "](";
    for (int copy = 0; copy < 10; ++copy) laughs += "h"s + static_cast<char>(level - 1);
    laughs += "eq"s + static_cast<char>(level) + "0"s;
  }
  laughs += "h\x0b.";
  refuses(laughs, amn::ErrorCode::Limit, "pickle expands to more than 10000000 objects");

  // DUP counts too: a list that holds itself, reused many times.
  std::string self = kProto2 + "]q\x00"s;
  for (int round = 0; round < 64; ++round) self += "h\x00h\x00" "a0"s;
  self += "h\x00.";
  refuses(self, amn::ErrorCode::Limit, "pickle expands to more than");

  amn::Limits tight;
  tight.max_alloc = 4096;
  std::string many = kProto2 + "]("s;
  for (int item = 0; item < 200; ++item) many += "N";
  refuses(many + "e."s, amn::ErrorCode::Limit, "pickle working set exceeds 4096 bytes", tight);
}

TEST_CASE("pickle: deep nesting is capped and never recursed (case 53)") {
  constexpr int kDepth = 100'000;
  std::string nested = kProto2;
  for (int level = 0; level < kDepth; ++level) nested += "]";
  for (int level = 1; level < kDepth; ++level) nested += "a";
  nested += ".";
  refuses(nested, amn::ErrorCode::Limit, "objects nested deeper than 1000 levels");

  std::string marks = kProto2;
  for (int level = 0; level < kDepth; ++level) marks += "(";
  refuses(marks + "."s, amn::ErrorCode::Limit, "more than 1000 open MARKs");

  // With the cap lifted the table holds 100k nested lists and frees them without recursion.
  amn::Limits lifted;
  lifted.max_depth = 2 * kDepth;
  Unpickled deep = run(nested, lifted);
  CHECK(deep.root_object().depth == kDepth);
}

TEST_CASE("pickle: string lengths and UTF-8 (case 54)") {
  refuses(kProto2 + "X"s + u32(0xffffffffu) + "abc."s, amn::ErrorCode::Parse,
          "BINUNICODE (0x58) length 4294967295 exceeds the 4 bytes that remain");
  refuses("\x80\x04\x8d"s + u64(1ull << 63) + "abc."s, amn::ErrorCode::Parse, "BINUNICODE8 (0x8d) length 9223372036854775808");
  refuses("\x80\x04\x8e"s + u64(~0ull) + "."s, amn::ErrorCode::Parse, "BINBYTES8 (0x8e) length 18446744073709551615");
  refuses(kProto2 + "X\x02\x00\x00\x00\xc0\xaf."s, amn::ErrorCode::Parse, "BINUNICODE (0x58) string is not valid UTF-8");
  refuses(kProto2 + "X\x03\x00\x00\x00\xed\xa0\x80."s, amn::ErrorCode::Parse, "not valid UTF-8");   // surrogate
  refuses(kProto2 + "X\x02\x00\x00\x00\xe6\x97."s, amn::ErrorCode::Parse, "not valid UTF-8");       // cut short
  refuses(kProto2 + "X\x04\x00\x00\x00\xf4\x90\x80\x80."s, amn::ErrorCode::Parse, "not valid UTF-8"); // > U+10FFFF
  refuses(kProto2 + "U\x01\xe9."s, amn::ErrorCode::Parse, "SHORT_BINSTRING (0x55) string is not ASCII");
  refuses(kProto2 + "T\xff\xff\xff\xff."s, amn::ErrorCode::Parse, "BINSTRING length is negative");
  refuses(kProto2 + "J\x01\x00"s, amn::ErrorCode::Parse, "BININT: truncated at offset 3");
  amn::Limits tight;
  tight.max_string = 2;
  refuses(kProto2 + "X\x03\x00\x00\x00" "abc."s, amn::ErrorCode::Limit, "exceeds the string cap of 2", tight);
}

TEST_CASE("pickle: STOP and PROTO (case 55)") {
  refuses(kProto2 + "N"s, amn::ErrorCode::Parse, "no STOP opcode before the end of the pickle");
  refuses(""s, amn::ErrorCode::Parse, "no STOP opcode");
  refuses(kProto2 + "N.N"s, amn::ErrorCode::Parse, "1 bytes of data after STOP");
  refuses("\x80\x06N."s, amn::ErrorCode::Unsupported, "pickle protocol 6 is not supported");
  refuses("\x80\x01N."s, amn::ErrorCode::Unsupported, "pickle protocol 1 is not supported");
  refuses("\x80\x04\x95"s + u64(1000) + "N."s, amn::ErrorCode::Parse, "FRAME length 1000 exceeds");
}
