import EssentialsSupport

/// Rows as columns padded to their widest cell, two spaces apart (the last one unpadded): the tables
/// of `verify` and `doctor`.
func alignedColumns(_ rows: [[String]]) -> String {
    let columns = rows.map(\.count).max() ?? 0
    let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.paddedRight(to: widths[index]) }.joined(separator: "  ")
    }.joined(separator: "\n")
}
