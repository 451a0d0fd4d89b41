// libFuzzer target for the playbook loader: the input is a playbook file (imports of other
// files simply fail to resolve). Errors are expected; crashes, hangs and sanitizer reports
// are bugs.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "controller/rollout/playbook.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/fuzz_playbook_XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  const std::string path = dir + "/play.yml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  (void)tachyon::rollout::LoadPlaybook(path);
  return 0;
}
