#include "io/zip.hpp"
#include "amn/error.hpp"
namespace amn::io {
std::vector<ZipMember> read_zip_directory(const File& file, const Limits&) { fail_unsupported(file.path(), "zip not built yet"); }
bool looks_like_zip(const File&) { return false; }
std::vector<std::byte> read_member(const File& file, const ZipMember&, const Limits&) { fail_unsupported(file.path(), "zip not built yet"); }
Storage member_storage(const ZipMember& member, uint32_t file_index) {
  Storage storage;
  storage.file_index = file_index;
  storage.offset = member.data_offset;
  storage.stored_size = member.compressed_size;
  storage.size = member.uncompressed_size;
  storage.compression = member.method;
  storage.crc32 = member.crc32;
  storage.check_crc = true;
  return storage;
}
}
