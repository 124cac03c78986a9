#include "ipc/unpack_protocol.h"

namespace banger::ipc {
namespace {

// Walks UnpackLimits::Fields, handing each bound and its name to `visit`.
template <class Visit>
struct EachBound {
  Visit visit;
  EachBound& OptionalUint(std::string_view name, std::optional<uint64_t>& value) {
    visit(name, value);
    return *this;
  }
};
template <class Visit>
EachBound<Visit> Each(Visit visit) {
  return EachBound<Visit>{std::move(visit)};
}

}  // namespace

const std::vector<std::string>& UnpackLimits::Names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    UnpackLimits limits;
    auto each = Each([&](std::string_view name, std::optional<uint64_t>&) { out.emplace_back(name); });
    Fields(limits, each);
    return out;
  }();
  return names;
}

std::optional<uint64_t>* UnpackLimits::Find(std::string_view name) {
  std::optional<uint64_t>* found = nullptr;
  auto each = Each([&](std::string_view each_name, std::optional<uint64_t>& value) {
    if (each_name == name) found = &value;
  });
  Fields(*this, each);
  return found;
}

}  // namespace banger::ipc
