package rank;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.anserini.rerank.lib.ScoreTiesAdjusterReranker;
import io.anserini.search.ScoredDocs;
import io.anserini.search.query.BagOfWordsQueryGenerator;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.document.Document;
import org.apache.lucene.search.FieldDoc;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.Sort;
import org.apache.lucene.search.TopFieldDocs;
import org.apache.lucene.util.BytesRef;

/**
 * Plain BM25 queries searched as Anserini's SimpleSearcher searches them (rankers/bm25.py, Bm25Searcher), on a
 * pool of Java threads, without loading each hit's stored document, and handed back to Python in bulk.
 *
 * <p>Per query: Anserini's bag-of-words query over `contents`; Lucene's IndexSearcher sorted as SimpleSearcher
 * sorts (the `sort` given: score, then the `id` doc value); the docid read from that sort value; Anserini's own
 * ScoreTiesAdjusterReranker on the scores. A chunk of queries comes back as one JSON string, `[[[docid, ...],
 * [score, ...]], ...]` in query order, non-ASCII escaped (pyjnius hands strings over in modified UTF-8).
 */
public final class Bm25Batch implements AutoCloseable {
  private final IndexSearcher searcher;
  private final Analyzer analyzer;
  private final Sort sort;
  private final ExecutorService pool;
  private final ObjectMapper json = new ObjectMapper();

  public Bm25Batch(IndexSearcher searcher, Analyzer analyzer, Sort sort, int threads) {
    this.searcher = searcher;
    this.analyzer = analyzer;
    this.sort = sort;
    this.pool =
        Executors.newFixedThreadPool(
            threads,
            r -> {
              Thread t = new Thread(r, "rank-bm25");
              t.setDaemon(true);
              return t;
            });
    json.configure(JsonGenerator.Feature.ESCAPE_NON_ASCII, true);
  }

  public String search(String[] queries, int hits) throws Exception {
    List<Future<Object[]>> found = new ArrayList<>(queries.length);
    for (String q : queries) {
      found.add(pool.submit(() -> one(q, hits)));
    }
    Object[] out = new Object[queries.length];
    for (int i = 0; i < out.length; i++) {
      try {
        out[i] = found.get(i).get();
      } catch (ExecutionException e) {
        // Which query failed, for the caller's message (Lucene's TooManyClauses on a long query, say).
        throw new IllegalArgumentException("query " + i + ": " + e.getCause(), e.getCause());
      }
    }
    return json.writeValueAsString(out);
  }

  private Object[] one(String text, int hits) throws Exception {
    Query query = new BagOfWordsQueryGenerator().buildQuery("contents", analyzer, text);
    if (query == null) {
      return new Object[] {new String[0], new float[0]};
    }
    TopFieldDocs top = searcher.search(query, hits, sort, true);
    int n = top.scoreDocs.length;
    ScoredDocs docs = new ScoredDocs();
    docs.docids = new String[n];
    docs.lucene_docids = new int[n];
    docs.scores = new float[n];
    docs.lucene_documents = new Document[n];
    for (int i = 0; i < n; i++) {
      FieldDoc hit = (FieldDoc) top.scoreDocs[i];
      docs.docids[i] = ((BytesRef) hit.fields[1]).utf8ToString();
      docs.lucene_docids[i] = hit.doc;
      docs.scores[i] = hit.score;
    }
    new ScoreTiesAdjusterReranker<Object>().rerank(docs, null);
    return new Object[] {docs.docids, docs.scores};
  }

  @Override
  public void close() {
    pool.shutdownNow();
  }
}
