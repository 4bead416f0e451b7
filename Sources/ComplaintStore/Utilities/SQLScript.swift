/// Splits a SQL script (a migration file) into single statements.
///
/// PostgresNIO speaks only the extended query protocol, which runs one statement per message, so a migration
/// file with several statements has to be split on the client. The splitter understands what can hide a `;`:
/// `--` line comments, nested `/* */` block comments, single-quoted strings (with `''` escapes), `E'…'` strings
/// with backslash escapes, double-quoted identifiers and dollar-quoted bodies (`$$…$$`, `$tag$…$tag$`), so
/// function bodies and `DO` blocks stay whole. Statements that contain nothing but comments and whitespace are
/// dropped.
package enum SQLScript {
    /// The statements of `script`, in order, each without its terminating `;` and trimmed of surrounding
    /// whitespace.
    package static func statements(in script: String) -> [String] {
        let scalars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var hasCode = false
        var index = 0

        func peek(_ offset: Int) -> Unicode.Scalar? {
            let position = index + offset
            return position < scalars.count ? scalars[position] : nil
        }

        func finishStatement() {
            let text = String(current).trimmingSQLWhitespace()
            if hasCode && !text.isEmpty {
                statements.append(text)
            }
            current = String.UnicodeScalarView()
            hasCode = false
        }

        while index < scalars.count {
            let scalar = scalars[index]
            switch scalar {
            case "-" where peek(1) == "-":
                // Line comment: copy through the end of the line.
                while index < scalars.count && scalars[index] != "\n" {
                    current.append(scalars[index])
                    index += 1
                }

            case "/" where peek(1) == "*":
                // Block comment; PostgreSQL allows nesting.
                var depth = 0
                repeat {
                    if scalars[index] == "/" && peek(1) == "*" {
                        depth += 1
                        current.append(contentsOf: [scalars[index], scalars[index + 1]])
                        index += 2
                    } else if scalars[index] == "*" && peek(1) == "/" {
                        depth -= 1
                        current.append(contentsOf: [scalars[index], scalars[index + 1]])
                        index += 2
                    } else {
                        current.append(scalars[index])
                        index += 1
                    }
                } while depth > 0 && index < scalars.count

            case "'":
                let escapesBackslashes = index > 0 && (scalars[index - 1] == "E" || scalars[index - 1] == "e")
                    && (index < 2 || !isIdentifierPart(scalars[index - 2]))
                hasCode = true
                current.append(scalar)
                index += 1
                while index < scalars.count {
                    let character = scalars[index]
                    current.append(character)
                    index += 1
                    if escapesBackslashes && character == "\\" && index < scalars.count {
                        current.append(scalars[index])
                        index += 1
                    } else if character == "'" {
                        if index < scalars.count && scalars[index] == "'" {
                            current.append(scalars[index])
                            index += 1
                        } else {
                            break
                        }
                    }
                }

            case "\"":
                hasCode = true
                current.append(scalar)
                index += 1
                while index < scalars.count {
                    let character = scalars[index]
                    current.append(character)
                    index += 1
                    if character == "\"" {
                        if index < scalars.count && scalars[index] == "\"" {
                            current.append(scalars[index])
                            index += 1
                        } else {
                            break
                        }
                    }
                }

            case "$" where !(index > 0 && isIdentifierPart(scalars[index - 1])):
                hasCode = true
                if let tagLength = dollarQuoteTagLength(scalars, at: index) {
                    let tag = Array(scalars[index..<(index + tagLength)])
                    current.append(contentsOf: tag)
                    index += tagLength
                    // Copy the body up to and including the closing tag.
                    while index < scalars.count {
                        if scalars[index] == "$" && index + tagLength <= scalars.count
                            && Array(scalars[index..<(index + tagLength)]) == tag
                        {
                            current.append(contentsOf: tag)
                            index += tagLength
                            break
                        }
                        current.append(scalars[index])
                        index += 1
                    }
                } else {
                    // A positional parameter such as `$1`.
                    current.append(scalar)
                    index += 1
                }

            case ";":
                index += 1
                finishStatement()

            default:
                if !scalar.properties.isWhitespace {
                    hasCode = true
                }
                current.append(scalar)
                index += 1
            }
        }
        finishStatement()
        return statements
    }

    /// The length of the dollar-quote opening tag (`$$` or `$tag$`) starting at `start`, or `nil` if the `$` there
    /// does not open a dollar quote.
    private static func dollarQuoteTagLength(_ scalars: [Unicode.Scalar], at start: Int) -> Int? {
        var index = start + 1
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "$" {
                return index - start + 1
            }
            let allowed = index == start + 1 ? isIdentifierStart(scalar) : isIdentifierPart(scalar)
            guard allowed else { return nil }
            index += 1
        }
        return nil
    }

    private static func isIdentifierStart(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "_" || scalar.properties.isAlphabetic || scalar.value >= 0x80
    }

    private static func isIdentifierPart(_ scalar: Unicode.Scalar) -> Bool {
        isIdentifierStart(scalar) || ("0"..."9").contains(scalar) || scalar == "$"
    }
}

extension String {
    fileprivate func trimmingSQLWhitespace() -> String {
        let scalars = self.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
