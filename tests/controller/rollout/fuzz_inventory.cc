// libFuzzer target for the inventory parser: the first byte picks the file name (and so the
// format detection), the rest is the inventory text. Errors are expected; crashes, hangs and
// sanitizer reports are bugs.

#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/rollout/inventory.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kNames[] = {"hosts", "hosts.ini", "hosts.yml", "hosts.json"};
  const std::string name = kNames[data[0] % 4];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  // Small limits: a 4 KiB input can name 100000 hosts per line, which measures volume, not logic
  // (the limits themselves have unit tests at their real values).
  tachyon::rollout::InventoryLimits limits;
  limits.max_hosts = 2000;
  limits.max_host_entries = 20000;
  auto inv = tachyon::rollout::Inventory::FromString(text, name, limits);
  if (inv.ok()) {
    (void)(*inv)->GetUniverse();
    (void)(*inv)->ToListJson();
  }
  (void)tachyon::rollout::IniValue(text);
  return 0;
}
