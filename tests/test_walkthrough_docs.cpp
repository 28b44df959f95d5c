// docs/walkthrough.md must not rot: every ```cpp block in it is quoted from
// examples/conv_walkthrough.cpp, which the build compiles and CTest runs.
//
// A block is announced by the line <!-- walkthrough:NAME --> right above its fence and
// must equal a run of whole lines of the example's region
//     // [walkthrough:NAME]
//     ...
//     // [end]
// after the region's common indentation is removed. Every region is quoted at least
// once; the doc holds no code in another language (```text blocks hold formulas,
// matrices and program output, not code); and every repository file the doc names in
// backquotes, and every image it shows, exists.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

using Lines = std::vector<std::string>;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot read " << p;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Lines split_lines(const std::string& text) {
  Lines lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// The marked regions of a source file, dedented, by name. Problems go to `errors`.
std::map<std::string, Lines> source_regions(const Lines& src, std::vector<std::string>& errors) {
  std::map<std::string, Lines> regions;
  std::string open;
  Lines body;
  const std::string start = "// [walkthrough:";
  for (std::size_t i = 0; i < src.size(); ++i) {
    const std::string t = trim(src[i]);
    if (t.rfind(start, 0) == 0 && t.back() == ']') {
      if (!open.empty())
        errors.push_back("region '" + open + "' not closed before line " + std::to_string(i + 1));
      open = t.substr(start.size(), t.size() - start.size() - 1);
      body.clear();
      if (regions.count(open)) errors.push_back("region '" + open + "' marked twice");
    } else if (t == "// [end]") {
      if (open.empty()) {
        errors.push_back("// [end] without a region at line " + std::to_string(i + 1));
        continue;
      }
      std::size_t indent = std::string::npos;
      for (const std::string& l : body)
        if (!trim(l).empty()) indent = std::min(indent, l.find_first_not_of(" \t"));
      for (std::string& l : body) l = trim(l).empty() ? "" : l.substr(indent);
      regions[open] = body;
      open.clear();
    } else if (!open.empty()) {
      body.push_back(src[i]);
    }
  }
  if (!open.empty()) errors.push_back("region '" + open + "' never closed");
  return regions;
}

struct Block {
  std::string lang, name;  // name from the <!-- walkthrough:NAME --> line, if any
  std::size_t line = 0;    // of the opening fence, 1-based
  Lines body;
};

std::vector<Block> doc_blocks(const Lines& doc, std::vector<std::string>& errors) {
  std::vector<Block> blocks;
  const std::regex tag(R"(^<!--\s*walkthrough:([A-Za-z0-9_-]+)\s*-->$)");
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const std::string fence = trim(doc[i]);  // a fence may be indented, in a list
    if (fence.rfind("```", 0) != 0) continue;
    Block b;
    b.lang = trim(fence.substr(3));
    b.line = i + 1;
    if (i > 0) {
      std::smatch m;
      const std::string above = trim(doc[i - 1]);
      if (std::regex_match(above, m, tag)) b.name = m[1];
    }
    std::size_t j = i + 1;
    while (j < doc.size() && trim(doc[j]) != "```") b.body.push_back(doc[j++]);
    if (j == doc.size())
      errors.push_back("code block at line " + std::to_string(b.line) + " never closed");
    blocks.push_back(b);
    i = j;
  }
  return blocks;
}

// True when `needle` equals lines [k, k + needle.size()) of `hay` for some k.
bool contains_run(const Lines& hay, const Lines& needle) {
  if (needle.empty()) return false;
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// Everything the checks below find wrong with the doc, given the example's source.
std::vector<std::string> check_doc(const Lines& doc, const Lines& src) {
  std::vector<std::string> errors;
  const auto regions = source_regions(src, errors);
  std::set<std::string> quoted;
  for (const Block& b : doc_blocks(doc, errors)) {
    const std::string where = "block at docs line " + std::to_string(b.line);
    if (b.lang == "text") continue;
    if (b.lang != "cpp") {
      errors.push_back(where + ": language '" + b.lang + "' (only cpp, checked, and text)");
      continue;
    }
    if (b.name.empty()) {
      errors.push_back(where + ": no <!-- walkthrough:NAME --> line above it");
      continue;
    }
    const auto it = regions.find(b.name);
    if (it == regions.end()) {
      errors.push_back(where + ": no region // [walkthrough:" + b.name + "] in the example");
      continue;
    }
    quoted.insert(b.name);
    if (!contains_run(it->second, b.body))
      errors.push_back(where + ": differs from region '" + b.name + "' of the example");
  }
  for (const auto& [name, body] : regions)
    if (!quoted.count(name)) errors.push_back("region '" + name + "' is quoted nowhere in the doc");
  return errors;
}

std::string joined(const std::vector<std::string>& errors) {
  std::string s;
  for (const std::string& e : errors) s += "  " + e + "\n";
  return s;
}

const fs::path kRoot = MINICNN_SOURCE_DIR;
const fs::path kDoc = kRoot / "docs" / "walkthrough.md";
const fs::path kExample = kRoot / "examples" / "conv_walkthrough.cpp";

TEST(WalkthroughDocs, EveryCppBlockIsQuotedFromTheExample) {
  const auto errors = check_doc(split_lines(read_text(kDoc)), split_lines(read_text(kExample)));
  EXPECT_TRUE(errors.empty()) << joined(errors);
}

TEST(WalkthroughDocs, QuotesSomething) {
  std::vector<std::string> errors;
  const auto blocks = doc_blocks(split_lines(read_text(kDoc)), errors);
  const auto cpp =
      std::count_if(blocks.begin(), blocks.end(), [](const Block& b) { return b.lang == "cpp"; });
  EXPECT_GE(cpp, 5) << "the walkthrough should quote the example's code";
}

TEST(WalkthroughDocs, NamedFilesAndImagesExist) {
  const std::string doc = read_text(kDoc);
  // `layers/conv/im2col.cpp`, `layers/conv/fft.hpp`, ... in backquotes, and ![..](image.png).
  const std::regex file(
      R"(`((?:core|layers|examples|tests|bench|docs|scripts)/[A-Za-z0-9_./-]+\.(?:hpp|cpp|md|png|txt|sh))`)");
  const std::regex image(R"(!\[[^\]]*\]\(([^)]+)\))");
  std::size_t named = 0;
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), file); it != std::sregex_iterator();
       ++it) {
    ++named;
    EXPECT_TRUE(fs::exists(kRoot / (*it)[1].str())) << "docs/walkthrough.md names " << (*it)[1];
  }
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), image); it != std::sregex_iterator();
       ++it)
    EXPECT_TRUE(fs::exists(kDoc.parent_path() / (*it)[1].str()))
        << "docs/walkthrough.md shows " << (*it)[1];
  EXPECT_GT(named, 0u);
}

// The checker itself: it must catch a drifted block, a missing tag, an unknown region,
// an unquoted region, a block in another language and an untagged block in a list.
TEST(WalkthroughDocs, CheckerCatchesDrift) {
  const Lines src = {
      "int f() {", "  // [walkthrough:a]", "  int x = 1;", "  return x;", "  // [end]",
      "}",         "// [walkthrough:b]",   "int g;",       "// [end]"};
  const Lines good = {"<!-- walkthrough:a -->",
                      "```cpp",
                      "int x = 1;",
                      "return x;",
                      "```",
                      "<!-- walkthrough:b -->",
                      "```cpp",
                      "int g;",
                      "```",
                      "```text",
                      "y = 1",
                      "```",
                      "1. a list item",
                      "   ```text",
                      "   z = 2",
                      "   ```"};
  EXPECT_TRUE(check_doc(good, src).empty()) << joined(check_doc(good, src));

  Lines drifted = good;
  drifted[2] = "int x = 2;";
  EXPECT_EQ(check_doc(drifted, src).size(), 1u);

  Lines untagged = good;
  untagged[0] = "";
  EXPECT_EQ(check_doc(untagged, src).size(), 2u);  // untagged block, region a unquoted

  Lines unknown = good;
  unknown[5] = "<!-- walkthrough:c -->";
  EXPECT_EQ(check_doc(unknown, src).size(), 2u);  // no region c, region b unquoted

  Lines python = good;
  python.insert(python.end(), {"```python", "print(1)", "```"});
  EXPECT_EQ(check_doc(python, src).size(), 1u);

  Lines indented = good;
  indented.insert(indented.end(), {"2. another", "   ```cpp", "   int h;", "   ```"});
  EXPECT_EQ(check_doc(indented, src).size(), 1u);  // an untagged cpp block in a list

  const Lines unclosed = {"// [walkthrough:a]", "int x;"};
  std::vector<std::string> errors;
  source_regions(unclosed, errors);
  EXPECT_EQ(errors.size(), 1u);
}

}  // namespace
