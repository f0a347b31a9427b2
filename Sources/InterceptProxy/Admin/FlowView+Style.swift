extension FlowView {
    static let styleSheet = """
        :root { color-scheme: light dark; --bad: #c62828; --good: #2e7d32; --muted: #757575; --line: #8884; --pick: #1565c033; }
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 0 1.5rem 2rem; }
        header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; padding: 0.8rem 0; border-bottom: 1px solid var(--line); }
        h1 { font-size: 1.2rem; margin: 0; }
        h2 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; overflow-wrap: anywhere; }
        .status { padding: 0.1rem 0.6rem; border-radius: 1rem; font-weight: 600; }
        .status.live { background: #2e7d3222; color: var(--good); }
        .status.connecting, .status.reconnecting { background: #f9a82533; color: #ef6c00; }
        #proxy, #summary { color: var(--muted); overflow-wrap: anywhere; }
        #controls { display: flex; gap: 1.5rem; align-items: center; flex-wrap: wrap; margin: 0.8rem 0; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { cursor: pointer; user-select: none; white-space: nowrap; }
        th[aria-sort=ascending]::after { content: " \\25B2"; }
        th[aria-sort=descending]::after { content: " \\25BC"; }
        td { overflow-wrap: anywhere; max-width: 40rem; }
        .number { text-align: right; }
        tbody tr { cursor: pointer; }
        tbody tr:hover, tbody tr.selected { background: var(--pick); }
        .outcome-rejected { color: var(--bad); font-weight: 600; }
        .outcome-trusted { color: var(--good); font-weight: 600; }
        .outcome-mixed { color: #ef6c00; font-weight: 600; }
        #empty { color: var(--muted); }
        .fix { border-left: 4px solid var(--bad); padding: 0.4rem 0.8rem; margin: 0.5rem 0; background: #c6282811; }
        .fix pre, .headers { font: 12px/1.4 ui-monospace, monospace; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.3rem 0; }
        .connection { border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem 0.8rem; margin: 0.6rem 0; }
        .connection dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 1rem; margin: 0.3rem 0; }
        .connection dt { color: var(--muted); }
        .connection dd { margin: 0; overflow-wrap: anywhere; }
        .exchange { margin: 0.4rem 0 0.4rem 0.5rem; }

        """
}
