#include "container.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>
#include <utility>

namespace minicnn {
namespace {

// 1234567 -> "1,234,567"
std::string group_digits(double v) {
  const std::string digits = std::to_string(static_cast<unsigned long long>(std::llround(v)));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::size_t count_values(const std::vector<Parameter>& ps) {
  std::size_t n = 0;
  for (const Parameter& p : ps) n += p.value->size();
  return n;
}

std::string joined(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  if (name.empty()) return prefix;
  return prefix + "." + name;
}

}  // namespace

Layer& Container::operator[](std::size_t i) {
  return const_cast<Layer&>(std::as_const(*this)[i]);
}

const Layer& Container::operator[](std::size_t i) const {
  if (i >= children_.size()) {
    throw Error(name() + ": index " + std::to_string(i) + " is out of range [0, " +
                std::to_string(children_.size()) + ")");
  }
  return *children_[i].layer;
}

Layer& Container::child(const std::string& child_name) {
  std::string names;
  for (Child& c : children_) {
    if (c.name == child_name) return *c.layer;
    names += (names.empty() ? "'" : ", '") + c.name + "'";
  }
  throw Error(name() + ": no child named '" + child_name + "' (children: " + names + ")");
}

const std::string& Container::child_name(std::size_t i) const {
  (*this)[i];  // the range check
  return children_[i].name;
}

Layer& Container::adopt(std::string child_name, std::unique_ptr<Layer> layer) {
  if (layer == nullptr) {
    throw Error(name() + ": child " + std::to_string(children_.size()) + " ('" + child_name +
                "') is null");
  }
  if (!child_name.empty()) {
    for (const Child& c : children_)
      if (c.name == child_name)
        throw Error(name() + ": a child named '" + child_name + "' is already there");
  }
  layer->set_training(training_);
  children_.push_back({std::move(child_name), std::move(layer)});
  return *children_.back().layer;
}

std::string Container::who(std::size_t i) const {
  std::string s = name() + ": branch " + std::to_string(i);
  if (!children_[i].name.empty()) s += " (" + children_[i].name + ")";
  return s;
}

std::vector<Parameter> Container::parameters() {
  std::vector<Parameter> all;
  for (Child& c : children_)
    for (Parameter& p : c.layer->parameters()) {
      p.name = joined(c.name, p.name);
      all.push_back(std::move(p));
    }
  return all;
}

std::vector<Parameter> Container::buffers() {
  std::vector<Parameter> all;
  for (Child& c : children_)
    for (Parameter& p : c.layer->buffers()) {
      p.name = joined(c.name, p.name);
      all.push_back(std::move(p));
    }
  return all;
}

void Container::set_training(bool on) {
  Layer::set_training(on);
  for (Child& c : children_) c.layer->set_training(on);
}

void Container::collect_rows(const std::string& prefix, const Shape& x, std::vector<Row>& rows) {
  const std::vector<Shape> inputs = child_inputs(x);
  for (std::size_t i = 0; i < children_.size(); ++i) {
    Layer& layer = *children_[i].layer;
    const std::string index = joined(prefix, children_[i].name);
    if (auto* nested = dynamic_cast<Container*>(&layer)) {
      nested->collect_rows(index, inputs[i], rows);
      continue;
    }
    Row row;
    row.index = index;
    row.name = layer.name_for(inputs[i]);
    row.params = count_values(layer.parameters());
    row.flops = layer.flops(inputs[i]);
    row.shape = to_string(layer.output_shape(inputs[i]));
    rows.push_back(std::move(row));
  }
}

std::string Container::summary(const Shape& input_shape) {
  output_shape(input_shape);  // any shape error, named, first

  std::vector<Row> rows;
  collect_rows("", input_shape, rows);

  // Columns: index, layer, output shape, params, FLOPs; text left, numbers right.
  using Cells = std::array<std::string, 5>;
  std::vector<Cells> table;
  table.push_back({"#", "Layer", "Output shape", "Params", "FLOPs"});
  table.push_back({"", "Input", to_string(input_shape), "", ""});
  std::size_t total_params = 0;
  for (const Row& r : rows) {
    table.push_back(
        {r.index, r.name, r.shape, group_digits(double(r.params)), group_digits(r.flops)});
    total_params += r.params;
  }
  // The total counts what the containers add themselves, such as a residual sum.
  table.push_back({"", "Total", "", group_digits(double(total_params)),
                   group_digits(flops(input_shape))});

  std::array<std::size_t, 5> width{};
  for (const Cells& c : table)
    for (std::size_t k = 0; k < 5; ++k) width[k] = std::max(width[k], c[k].size());

  std::ostringstream out;
  const auto put_row = [&](const Cells& c) {
    std::string line;
    for (std::size_t k = 0; k < 5; ++k) {
      const std::string pad(width[k] - c[k].size(), ' ');
      const bool right = k == 0 || k >= 3;
      line += (k ? "  " : "") + (right ? pad + c[k] : c[k] + pad);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
  };
  const auto put_rule = [&] {
    std::size_t n = 0;
    for (std::size_t w : width) n += w;
    out << std::string(n + 2 * (width.size() - 1), '-') << '\n';
  };
  put_row(table[0]);
  put_rule();
  for (std::size_t r = 1; r + 1 < table.size(); ++r) put_row(table[r]);
  put_rule();
  put_row(table.back());

  const std::size_t buffer_values = count_values(buffers());
  if (buffer_values > 0) {
    out << "Buffers (saved, not trained): " << group_digits(double(buffer_values)) << " values\n";
  }
  return out.str();
}

}  // namespace minicnn
