// Covers amn::convert called as a library (include/amn/amn.hpp): Progress::cancel and
// convert_with_progress, atomic output under cancellation (nothing left under the output name,
// no temporary files), and no process-wide side effects (signal handlers, oneTBB limits).
#include <doctest/doctest.h>
#include <signal.h>

#include <tbb/global_control.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

const std::string kTinyLlama = std::string(AMN_SOURCE_DIR) + "/samples/tiny-llama.gguf";

/// Names of everything in `dir` (temporary files included).
std::vector<std::string> entries(const amn::test::TempDir& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path())) names.push_back(entry.path().filename().string());
  return names;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A safetensors file of one F32 tensor [rows, 1024] of `rows` × 4 KiB: big enough that a
/// conversion in 4 KiB chunks takes many chunks.
std::string write_big_model(const fs::path& path, uint64_t rows) {
  const uint64_t bytes = rows * 1024 * sizeof(float);
  std::string header = R"({"weight":{"dtype":"F32","shape":[)" + std::to_string(rows) + R"(,1024],"data_offsets":[0,)" +
                       std::to_string(bytes) + "]}}";
  const uint64_t header_len = header.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&header_len), sizeof(header_len));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  std::vector<float> row(1024);
  for (uint64_t row_idx = 0; row_idx < rows; ++row_idx) {
    for (size_t col = 0; col < row.size(); ++col) row[col] = static_cast<float>(row_idx) * 0.001f + static_cast<float>(col);
    out.write(reinterpret_cast<const char*>(row.data()), static_cast<std::streamsize>(row.size() * sizeof(float)));
  }
  return path.string();
}

amn::ConvertOptions remember_options() {
  amn::ConvertOptions options;
  options.dequantize = true;
  options.dtype = amn::DType::F32;
  options.threads = 1;
  return options;
}

/// The handler currently installed for `signo` (function pointer or SIG_DFL/SIG_IGN).
void* handler_of(int signo) {
  struct sigaction current {};
  ::sigaction(signo, nullptr, &current);
  return (current.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(current.sa_sigaction)
                                         : reinterpret_cast<void*>(current.sa_handler);
}

}  // namespace

TEST_CASE("convert: a cancel set before the start stops it with Cancelled and leaves nothing") {
  const amn::test::TempDir dir("convert-library");
  const amn::Catalog catalog = amn::open_model(kTinyLlama);
  amn::Progress progress;
  progress.cancel = true;
  amn::ConvertOptions options = remember_options();
  options.progress = &progress;
  const std::string output = (dir / "tiny.safetensors").string();
  try {
    (void)amn::convert(catalog, output, options);
    FAIL("convert did not stop");
  } catch (const amn::Error& error) {
    CHECK(error.code() == amn::ErrorCode::Cancelled);
    CHECK(std::string(error.what()) == output + ": conversion cancelled");
  }
  CHECK(entries(dir).empty());
  CHECK(progress.bytes_done == 0);
}

TEST_CASE("convert: a cancel while it runs removes every partial output, shards and index included") {
  const amn::test::TempDir dir("convert-library");
  const amn::Catalog catalog = amn::open_model(write_big_model(dir / "big.safetensors", 8192));  // 32 MiB
  fs::create_directories(dir / "out");
  amn::ConvertOptions options = remember_options();
  options.dtype = amn::DType::BF16;
  options.chunk_bytes = 4096;
  options.max_shard_size = 4 << 20;
  amn::Progress progress;
  options.progress = &progress;
  uint64_t done_when_cancelled = 0;
  try {
    (void)amn::convert_with_progress(
        catalog, (dir / "out").string(), options,
        [&](amn::Progress& live) {
          if (live.bytes_done > 0 && !live.cancel) {
            done_when_cancelled = live.bytes_done;
            live.cancel = true;
          }
        },
        std::chrono::milliseconds(1));
    FAIL("convert did not stop");
  } catch (const amn::Error& error) {
    CHECK(error.code() == amn::ErrorCode::Cancelled);
    CHECK(std::string(error.what()).find("conversion cancelled") != std::string::npos);
  }
  CHECK(done_when_cancelled > 0);
  CHECK(progress.bytes_done < progress.bytes_total);
  CHECK(fs::is_empty(dir / "out"));
}

TEST_CASE("convert_with_progress: the callback sees the counters, the last call the final ones") {
  const amn::test::TempDir dir("convert-library");
  const amn::Catalog catalog = amn::open_model(kTinyLlama);
  uint64_t calls = 0;
  bool monotonic = true;
  struct Seen {
    uint64_t bytes_done = 0, bytes_total = 0, tensors_done = 0, tensors_total = 0;
  } last;
  const amn::ConvertResult result = amn::convert_with_progress(
      catalog, (dir / "callback.safetensors").string(), remember_options(),
      [&](amn::Progress& live) {
        ++calls;
        monotonic = monotonic && live.bytes_done >= last.bytes_done;
        last = Seen{live.bytes_done, live.bytes_total, live.tensors_done, live.tensors_total};
      },
      std::chrono::milliseconds(1));
  CHECK(calls >= 2);
  CHECK(monotonic);
  CHECK(last.bytes_total == result.outputs.at(0).bytes);
  CHECK(last.bytes_done == last.bytes_total);
  CHECK(last.tensors_done == catalog.tensors.size());
  CHECK(last.tensors_total == catalog.tensors.size());

  // the same bytes as a plain convert
  (void)amn::convert(catalog, (dir / "plain.safetensors").string(), remember_options());
  CHECK(read_file(dir / "callback.safetensors") == read_file(dir / "plain.safetensors"));
}

TEST_CASE("convert_with_progress: a callback that throws stops the conversion and its exception comes back") {
  const amn::test::TempDir dir("convert-library");
  const amn::Catalog catalog = amn::open_model(kTinyLlama);
  amn::ConvertOptions options = remember_options();
  options.chunk_bytes = 4096;
  CHECK_THROWS_WITH_AS(amn::convert_with_progress(catalog, (dir / "out.safetensors").string(), options,
                                                  [](amn::Progress&) { throw std::runtime_error("display closed"); }),
                       "display closed", std::runtime_error);
  CHECK(entries(dir).empty());
}

TEST_CASE("convert: no signal handler installed, no TBB parallelism limit left behind") {
  const amn::test::TempDir dir("convert-library");
  const amn::Catalog catalog = amn::open_model(kTinyLlama);
  const int signals[] = {SIGINT, SIGTERM, SIGXFSZ, SIGPIPE};
  std::vector<void*> before;
  for (int signo : signals) before.push_back(handler_of(signo));
  const size_t parallelism_before = tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);

  size_t parallelism_during = 0;
  amn::ConvertOptions options = remember_options();
  options.chunk_bytes = 4096;
  (void)amn::convert_with_progress(catalog, (dir / "out.safetensors").string(), options, [&](amn::Progress& live) {
    if (live.bytes_done > 0 && parallelism_during == 0) {
      parallelism_during = tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism);
    }
  }, std::chrono::milliseconds(1));
  // a conversion that fails inside the pipeline restores the limit too
  amn::Progress cancelled;
  cancelled.cancel = true;
  options.progress = &cancelled;
  CHECK_THROWS_AS((void)amn::convert(catalog, (dir / "failed.safetensors").string(), options), amn::Error);

  CHECK(tbb::global_control::active_value(tbb::global_control::max_allowed_parallelism) == parallelism_before);
  for (size_t signal_idx = 0; signal_idx < std::size(signals); ++signal_idx) {
    CAPTURE(signals[signal_idx]);
    CHECK(handler_of(signals[signal_idx]) == before[signal_idx]);
  }
  // the limit held while it ran (seen when a callback came during the run)
  if (parallelism_during != 0) CHECK(parallelism_during == 1);
}

TEST_CASE("convert: each output's crc32 is the CRC-32 of the file written, whatever the windows") {
  const amn::test::TempDir dir("convert-library");
  const amn::Catalog catalog = amn::open_model(kTinyLlama);
  for (const uint64_t chunk : {uint64_t{4096}, uint64_t{12345}, uint64_t{0}}) {
    CAPTURE(chunk);
    amn::ConvertOptions options = remember_options();
    options.chunk_bytes = chunk;
    options.max_shard_size = 300 << 10;  // several files
    const amn::ConvertResult result =
        amn::convert(catalog, (dir / ("out-" + std::to_string(chunk) + "/")).string(), options);
    REQUIRE(result.outputs.size() >= 2);
    for (const auto& output : result.outputs) {
      std::ifstream file(output.path, std::ios::binary);
      const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      CHECK(bytes.size() == output.bytes);
      CHECK(output.crc32 == static_cast<uint32_t>(::crc32(0, bytes.data(), static_cast<uInt>(bytes.size()))));
    }
  }
}
