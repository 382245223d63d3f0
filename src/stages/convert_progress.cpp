// convert_with_progress: amn::convert on a worker thread, the caller's progress callback on the
// calling thread, cancellation through Progress::cancel.
#include <exception>
#include <future>

#include "amn/amn.hpp"

namespace amn {

ConvertResult convert_with_progress(const Catalog& catalog, const std::string& output, ConvertOptions options,
                                    const ProgressCallback& on_progress, std::chrono::milliseconds interval,
                                    const Limits& limits) {
  Progress own;
  Progress& progress = options.progress ? *options.progress : own;
  options.progress = &progress;
  std::future<ConvertResult> running =
      std::async(std::launch::async, [&catalog, &output, &options, &limits] { return convert(catalog, output, options, limits); });
  try {
    do {
      if (on_progress) on_progress(progress);
    } while (running.wait_for(interval) != std::future_status::ready);
  } catch (...) {
    // The callback failed: stop the conversion and wait until its outputs are removed.
    progress.cancel = true;
    running.wait();
    throw;
  }
  ConvertResult result = running.get();
  if (on_progress) on_progress(progress);
  return result;
}

}  // namespace amn
