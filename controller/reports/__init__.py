"""Reports from signed device receipts: what was aired where and when, devices over time, exports."""
