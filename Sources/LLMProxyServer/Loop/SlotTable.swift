/// A fixed table of optional values addressed by two small indices, stored
/// flat: a lookup is an index computation and a load, where a dictionary
/// keyed by the pair would hash it on every request.
///
///     var plans = SlotTable<String>(rows: 2, columns: 3)
///     plans[1, 2] = "x"
///     plans[1, 2]  // "x"
struct SlotTable<Value> {
    private var slots: [Value?]
    let rows: Int
    let columns: Int

    init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        slots = Array(repeating: nil, count: rows * columns)
    }

    subscript(row: Int, column: Int) -> Value? {
        get {
            precondition(row < rows && column < columns, "slot (\(row), \(column)) outside \(rows) x \(columns)")
            return slots[row * columns + column]
        }
        set {
            precondition(row < rows && column < columns, "slot (\(row), \(column)) outside \(rows) x \(columns)")
            slots[row * columns + column] = newValue
        }
    }
}
