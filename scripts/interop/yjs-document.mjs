// Yjs (JavaScript) and a DXOS document (dxos.org/type/Document, echo/LAYOUT.md) on one space:
//   node yjs-document.mjs edit SPACE_EXPORT DOC_ID OUT   edits the document's text in Yjs (an
//        insert at the start, one at the end, a delete in the middle) and writes the change
//        as a Yjs v1 update for `dxos space import`;
//   node yjs-document.mjs read SPACE_EXPORT DOC_ID       prints {"name", "text"} as Yjs reads it.
import { readFileSync, writeFileSync } from 'node:fs'
import * as Y from 'yjs'

const [cmd, exportPath, docId, out] = process.argv.slice(2)
const doc = new Y.Doc()
Y.applyUpdate(doc, readFileSync(exportPath))
const objects = doc.getMap('objects')
const object = objects.get(docId)
if (!(object instanceof Y.Map)) throw new Error(`no object ${docId} in the space`)
if (object.get('@type') !== 'dxos.org/type/Document') throw new Error(`${docId} is not a document`)
const content = object.get('content')
if (!(content instanceof Y.Text)) throw new Error('content is not a Y.Text')

if (cmd === 'edit') {
  const before = Y.encodeStateVector(doc)
  doc.transact(() => {
    content.insert(content.length, ' and Yjs')
    content.insert(0, '[js] ')
    // "Hello" -> "Hi": delete "ello", insert "i" (offsets in UTF-16 code units, as Yjs counts).
    const at = content.toString().indexOf('Hello')
    content.delete(at + 1, 4)
    content.insert(at + 1, 'i')
  })
  writeFileSync(out, Y.encodeStateAsUpdate(doc, before))
  console.log(JSON.stringify({ text: content.toString() }))
} else if (cmd === 'read') {
  console.log(JSON.stringify({ name: object.get('name'), text: content.toString() }))
} else {
  throw new Error(`unknown command ${cmd}`)
}
