#include "controller/rollout/pattern.h"

#include <fnmatch.h>

#include <algorithm>
#include <regex>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tachyon::rollout {
namespace {

bool HasGlob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// Splits "grp[1:3]" into "grp" and the subscript text "1:3"; no subscript leaves it empty.
// Mirrors Ansible's rule: `[-?N]` or `[N?:N?]` at the end is a subscript; anything else in
// brackets (web[1-2], web[ab]) is a glob character class. Regex terms (~...) have none.
void SplitSubscript(const std::string& term, std::string* base, std::string* subscript) {
  static const std::regex kSubscript(R"(^(.+)\[(-?[0-9]+|[0-9]*\s*:\s*[0-9]*)\]$)");
  *base = term;
  subscript->clear();
  if (term.empty() || term[0] == '~') return;
  std::smatch m;
  if (!std::regex_match(term, m, kSubscript)) return;
  *base = m[1].str();
  *subscript = m[2].str();
  subscript->erase(std::remove(subscript->begin(), subscript->end(), ' '), subscript->end());
}

absl::StatusOr<std::vector<std::string>> ApplySubscript(const std::vector<std::string>& hosts,
                                                        const std::string& subscript,
                                                        const std::string& term) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid host pattern subscript in '", term, "'"));
  };
  const int64_t n = static_cast<int64_t>(hosts.size());
  auto norm = [n](int64_t i) { return i < 0 ? i + n : i; };
  std::vector<std::string> parts = absl::StrSplit(subscript, ':');
  if (parts.size() == 1) {
    int64_t i;
    if (!absl::SimpleAtoi(parts[0], &i)) return bad();
    i = norm(i);
    if (i < 0 || i >= n) return std::vector<std::string>{};
    return std::vector<std::string>{hosts[static_cast<size_t>(i)]};
  }
  if (parts.size() != 2) return bad();
  // Ansible's [a:b] is inclusive of b; a missing bound means the start or the end.
  int64_t start = 0, end = n - 1;
  if (!parts[0].empty() && !absl::SimpleAtoi(parts[0], &start)) return bad();
  if (!parts[1].empty() && !absl::SimpleAtoi(parts[1], &end)) return bad();
  start = std::max<int64_t>(0, norm(start));
  end = std::min<int64_t>(n - 1, norm(end));
  std::vector<std::string> out;
  for (int64_t i = start; i <= end; ++i) out.push_back(hosts[static_cast<size_t>(i)]);
  return out;
}

absl::StatusOr<std::vector<std::string>> MatchTerm(const std::string& term, const HostUniverse& u) {
  std::string base, subscript;
  SplitSubscript(term, &base, &subscript);
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& h) {
    if (seen.insert(h).second) out.push_back(h);
  };
  auto add_group = [&](const std::vector<std::string>& members) {
    for (const auto& h : members) add(h);
  };
  if (base == "all" || base == "*") {
    add_group(u.hosts);
  } else if (!base.empty() && base[0] == '~') {
    std::regex re;
    try {
      re = std::regex(base.substr(1), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid regex in host pattern '", term, "': ", e.what()));
    }
    for (const auto& [name, members] : u.groups) {
      if (std::regex_search(name, re)) add_group(members);
    }
    for (const auto& h : u.hosts) {
      if (std::regex_search(h, re)) add(h);
    }
  } else if (auto g = u.groups.find(base); g != u.groups.end()) {
    add_group(g->second);
  } else if (HasGlob(base)) {
    for (const auto& [name, members] : u.groups) {
      if (::fnmatch(base.c_str(), name.c_str(), 0) == 0) add_group(members);
    }
    for (const auto& h : u.hosts) {
      if (::fnmatch(base.c_str(), h.c_str(), 0) == 0) add(h);
    }
  } else {
    for (const auto& h : u.hosts) {
      if (h == base) add(h);
    }
    for (const auto& h : u.implicit_hosts) {
      if (h == base) add(h);
    }
  }
  // Keep inventory order, as Ansible does for the final host list.
  std::vector<std::string> ordered;
  std::set<std::string> matched(out.begin(), out.end());
  for (const auto& h : u.hosts) {
    if (matched.count(h)) ordered.push_back(h);
  }
  for (const auto& h : u.implicit_hosts) {
    if (matched.count(h)) ordered.push_back(h);
  }
  if (!subscript.empty()) return ApplySubscript(ordered, subscript, term);
  return ordered;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> MatchPattern(const std::string& pattern,
                                                      const HostUniverse& universe) {
  // Ansible splits on ',' and on ':' (IPv6 addresses aside, which agent names never are).
  std::vector<std::string> terms;
  for (absl::string_view piece :
       absl::StrSplit(pattern, absl::ByAnyChar(",:"), absl::SkipWhitespace())) {
    terms.emplace_back(absl::StripAsciiWhitespace(piece));
  }
  // `grp[1:3]` was split at its ':'; glue subscripts back together.
  std::vector<std::string> joined;
  for (const auto& t : terms) {
    if (!joined.empty() && joined.back().find('[') != std::string::npos &&
        joined.back().find(']') == std::string::npos) {
      joined.back() += ":" + t;
    } else {
      joined.push_back(t);
    }
  }
  if (joined.empty()) return absl::InvalidArgumentError("empty host pattern");

  std::set<std::string> result;
  bool have_union = false;
  std::vector<std::vector<std::string>> intersections, exclusions;
  for (const auto& t : joined) {
    if (t[0] == '!' || t[0] == '&') {
      if (t.size() == 1)
        return absl::InvalidArgumentError(absl::StrCat("invalid host pattern '", pattern, "'"));
      auto m = MatchTerm(t.substr(1), universe);
      if (!m.ok()) return m.status();
      (t[0] == '!' ? exclusions : intersections).push_back(*std::move(m));
    } else {
      auto m = MatchTerm(t, universe);
      if (!m.ok()) return m.status();
      have_union = true;
      result.insert(m->begin(), m->end());
    }
  }
  // "!web" alone means "all but web", as in Ansible.
  if (!have_union) result.insert(universe.hosts.begin(), universe.hosts.end());
  for (const auto& inter : intersections) {
    std::set<std::string> keep(inter.begin(), inter.end());
    for (auto it = result.begin(); it != result.end();) {
      it = keep.count(*it) ? std::next(it) : result.erase(it);
    }
  }
  for (const auto& ex : exclusions) {
    for (const auto& h : ex) result.erase(h);
  }
  std::vector<std::string> ordered;
  for (const auto& h : universe.hosts) {
    if (result.count(h)) ordered.push_back(h);
  }
  for (const auto& h : universe.implicit_hosts) {
    if (result.count(h)) ordered.push_back(h);
  }
  return ordered;
}

}  // namespace tachyon::rollout
